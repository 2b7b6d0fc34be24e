#include "engine_setup.h"

#include <QCoreApplication>
#include <QDir>
#include <QRegularExpression>

#include "format_text.h"
#include "path_util.h"

namespace nalasr::gui {

std::vector<DeviceOption> available_devices() {
    std::vector<DeviceOption> devices = {
        {QStringLiteral("auto"), QStringLiteral("Auto (GPU if usable, else CPU)")},
        {QStringLiteral("cpu"), QStringLiteral("CPU")},
    };
    for (const GpuInfo& gpu : list_gpus()) {
        devices.push_back({QStringLiteral("cuda:%1").arg(gpu.index),
                           QStringLiteral("GPU %1: %2 (%3)")
                               .arg(gpu.index)
                               .arg(QString::fromStdString(gpu.name), format_bytes(gpu.total_bytes))});
    }
    return devices;
}

std::vector<ModelOption> discover_models(const QStringList& folders) {
    static const QRegularExpression kName(QStringLiteral("^nalasr_(nala|pola|softmax)_x([234])\\.safetensors$"));
    std::vector<ModelOption> models;
    QStringList seen;
    for (const QString& folder : folders) {
        const QDir dir(folder);
        for (const QString& file : dir.entryList({QStringLiteral("*.safetensors")}, QDir::Files, QDir::Name)) {
            const QRegularExpressionMatch match = kName.match(file);
            const QString path = dir.canonicalPath() + QLatin1Char('/') + file;
            if (!match.hasMatch() || seen.contains(path)) continue;
            seen << path;
            const QString kind = match.captured(1);
            const QString pretty = kind == QLatin1String("nala")   ? QStringLiteral("NaLa")
                                   : kind == QLatin1String("pola") ? QStringLiteral("Pola")
                                                                   : QStringLiteral("Softmax");
            models.push_back({path, QStringLiteral("%1 ×%2 — %3").arg(pretty, match.captured(2), file),
                              match.captured(2).toInt()});
        }
    }
    return models;
}

QStringList default_model_folders() {
    QStringList folders;
    const QString from_env = qEnvironmentVariable("NALASR_MODELS_DIR");
    if (!from_env.isEmpty()) folders << from_env;
    folders << QCoreApplication::applicationDirPath() + QStringLiteral("/../share/nalasr/models");
#ifdef NALASR_SOURCE_MODELS_DIR
    folders << QStringLiteral(NALASR_SOURCE_MODELS_DIR);
#endif
    return folders;
}

Status parse_device(const QString& device, EngineParams* out) {
    EngineParams params;
    if (device == QLatin1String("auto")) {
        params.backend = BackendKind::Auto;
    } else if (device == QLatin1String("cpu")) {
        params.backend = BackendKind::Cpu;
    } else if (device.startsWith(QLatin1String("cuda:"))) {
        bool ok = false;
        params.backend = BackendKind::Cuda;
        params.gpu_index = device.mid(5).toInt(&ok);
        if (!ok || params.gpu_index < 0)
            return {StatusCode::InvalidArgument, "invalid GPU in device '" + device.toStdString() + "'"};
    } else {
        return {StatusCode::InvalidArgument,
                "unknown device '" + device.toStdString() + "' (expected auto, cpu or cuda:<index>)"};
    }
    *out = params;
    return Status::ok();
}

Status load_model(const QString& model_path, Model* out) {
    if (model_path.isEmpty()) return Model::load_default(out);
    return Model::load_file(to_fs_path(model_path), out);
}

Status create_engine(const EngineSpec& spec, std::unique_ptr<Engine>* out) {
    EngineParams params;
    if (Status st = parse_device(spec.device, &params); !st) return st;
    Model model;
    if (Status st = load_model(spec.model_path, &model); !st) return st;
    return Engine::create(model, params, out);
}

}  // namespace nalasr::gui
