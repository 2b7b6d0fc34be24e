#include "gui_test_support.h"

#include <QColor>
#include <QFile>
#include <QTest>

#include "path_util.h"
#include "tiny_model.h"

namespace nalasr::gui::test {

ModelConfig tiny_config() { return nalasr::test::tiny_config(); }

void write_tiny_model(const QString& path) {
    const Status st = Model::random(tiny_config(), 7).save_file(to_fs_path(path));
    QVERIFY2(st.is_ok(), st.message().c_str());
}

Image random_image(int width, int height, int channels, std::uint32_t seed) {
    Image image;
    image.allocate(width, height, channels, SampleType::U8);
    std::uint32_t state = seed * 2654435761u + 1;
    for (std::uint8_t& sample : image.pixels) {
        state = state * 1664525u + 1013904223u;
        sample = std::uint8_t(1 + (state >> 24) % 254);  // 1..254: never zero
    }
    return image;
}

void write_random_png(const QString& path, int width, int height, std::uint32_t seed) {
    const Status st = save_image(to_fs_path(path), random_image(width, height, 3, seed));
    QVERIFY2(st.is_ok(), st.message().c_str());
}

void write_corrupt_png(const QString& path) {
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("\x89PNG\r\n\x1a\n", 8);
    file.write(QByteArray(200, 'x'));
}

QImage random_qimage(int width, int height, std::uint32_t seed) {
    QImage image(width, height, QImage::Format_RGBA8888);
    std::uint32_t state = seed;
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            state = state * 1664525u + 1013904223u;
            image.setPixelColor(x, y, QColor(1 + (state >> 8) % 254, 1 + (state >> 16) % 254, 1 + (state >> 24) % 254));
        }
    return image;
}

}  // namespace nalasr::gui::test
