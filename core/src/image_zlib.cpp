// zlib inflate/deflate for PNG chunks (compressed ICC profiles). Image data (IDAT) is compressed with libdeflate
// by the PNG writer (image_png_writer.cpp).
#include <zlib.h>

#include "image_container.h"

namespace nalasr::detail {

Status zlib_inflate(ByteView compressed, std::size_t max_size, Bytes* out) {
    z_stream zs{};
    if (inflateInit(&zs) != Z_OK) return {StatusCode::Internal, "zlib: inflateInit failed"};
    zs.next_in = const_cast<Bytef*>(compressed.data());
    zs.avail_in = uInt(compressed.size());
    out->clear();
    int rc = Z_OK;
    std::uint8_t chunk[16384];
    while (rc == Z_OK) {
        zs.next_out = chunk;
        zs.avail_out = sizeof(chunk);
        rc = inflate(&zs, Z_NO_FLUSH);
        out->insert(out->end(), chunk, chunk + (sizeof(chunk) - zs.avail_out));
        if (out->size() > max_size) rc = Z_MEM_ERROR;
        if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;  // input ended before the stream did
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) return {StatusCode::CorruptData, "compressed data is truncated or malformed"};
    return Status::ok();
}

Bytes zlib_deflate(ByteView data, int level) {
    uLongf size = compressBound(uLong(data.size()));
    Bytes out(size);
    compress2(out.data(), &size, data.data(), uLong(data.size()), level);
    out.resize(size);
    return out;
}

}  // namespace nalasr::detail
