// Status code names (stable strings for JSON reports and logs).
#include "nalasr/status.h"

namespace nalasr {

const char* status_code_name(StatusCode code) {
    switch (code) {
        case StatusCode::Ok: return "ok";
        case StatusCode::InvalidArgument: return "invalid_argument";
        case StatusCode::IoError: return "io_error";
        case StatusCode::UnsupportedFormat: return "unsupported_format";
        case StatusCode::CorruptData: return "corrupt_data";
        case StatusCode::ModelMismatch: return "model_mismatch";
        case StatusCode::OutOfMemory: return "out_of_memory";
        case StatusCode::Cancelled: return "cancelled";
        case StatusCode::BackendUnavailable: return "backend_unavailable";
        case StatusCode::Internal: return "internal";
        case StatusCode::NumericalError: return "numerical_error";
    }
    return "unknown";
}

}  // namespace nalasr
