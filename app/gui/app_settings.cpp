#include "app_settings.h"

namespace nalasr::gui {

AppSettings AppSettings::load(const QSettings& settings) {
    AppSettings s;
    s.engine.model_path = settings.value("engine/model").toString();
    s.engine.model_name = settings.value("engine/model_name").toString();
    s.engine.device = settings.value("engine/device", s.engine.device).toString();
    s.output.folder = settings.value("output/folder").toString();
    s.output.format = output_format_from_id(settings.value("output/format").toString());
    s.output.overwrite = overwrite_policy_from_id(settings.value("output/overwrite").toString());
    s.output.bit_depth = output_bit_depth_from_id(settings.value("output/bit_depth").toString());
    s.output.keep_colours = settings.value("output/keep_colours", false).toBool();
    s.output.tta = settings.value("output/tta", false).toBool();
    s.before = settings.value("view/before").toString() == QLatin1String("nearest") ? BeforeResampler::Nearest
                                                                                     : BeforeResampler::Bicubic;
    s.last_open_folder = settings.value("ui/last_open_folder").toString();
    s.window_geometry = settings.value("ui/geometry").toByteArray();
    s.window_state = settings.value("ui/state").toByteArray();
    return s;
}

void AppSettings::save(QSettings& settings) const {
    settings.setValue("engine/model", engine.model_path);
    settings.setValue("engine/model_name", engine.model_name);
    settings.setValue("engine/device", engine.device);
    settings.setValue("output/folder", output.folder);
    settings.setValue("output/format", QLatin1String(output_format_id(output.format)));
    settings.setValue("output/overwrite", QLatin1String(overwrite_policy_id(output.overwrite)));
    settings.setValue("output/bit_depth", QLatin1String(output_bit_depth_id(output.bit_depth)));
    settings.setValue("output/keep_colours", output.keep_colours);
    settings.setValue("output/tta", output.tta);
    settings.setValue("view/before", before == BeforeResampler::Nearest ? "nearest" : "bicubic");
    settings.setValue("ui/last_open_folder", last_open_folder);
    settings.setValue("ui/geometry", window_geometry);
    settings.setValue("ui/state", window_state);
}

}  // namespace nalasr::gui
