// NalaSR public API: error reporting.
//
// Every engine call that can fail returns a Status. A Status carries a code a program can branch on and a
// one-line message a person can read ("model.safetensors: tensor 'conv_first.weight' has shape (64, 3, 3)
// but the config needs (64, 3, 3, 3)"). The engine never aborts the process on bad input.
#pragma once

#include <string>
#include <utility>

namespace nalasr {

enum class StatusCode {
    Ok = 0,
    InvalidArgument,    // a parameter is out of range (scale 5, zero-sized image, ...)
    IoError,            // a file could not be read or written
    UnsupportedFormat,  // a valid file in a format or bit depth we do not handle
    CorruptData,        // a truncated or malformed file
    ModelMismatch,      // weights do not match their config (missing tensor, wrong shape or dtype)
    OutOfMemory,        // host or device memory exhausted, or the planner predicts it would be
    Cancelled,          // the abort callback asked to stop
    BackendUnavailable, // e.g. --device cuda on a machine without a usable NVIDIA GPU
    Internal,           // a bug: please report
    NumericalError,     // the network's output has NaN/Inf values even in float32 (broken weights?)
};

// Short stable name of a code ("out_of_memory"), for JSON reports and logs.
const char* status_code_name(StatusCode code);

class Status {
public:
    Status() = default;
    Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
    static Status ok() { return {}; }

    bool is_ok() const { return code_ == StatusCode::Ok; }
    explicit operator bool() const { return is_ok(); }
    StatusCode code() const { return code_; }
    const std::string& message() const { return message_; }

private:
    StatusCode code_ = StatusCode::Ok;
    std::string message_;
};

}  // namespace nalasr
