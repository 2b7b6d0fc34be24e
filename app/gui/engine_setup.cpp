#include "engine_setup.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QRegularExpression>
#include <algorithm>

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

namespace {

QString kind_label(const QString& kind) {
    return kind == QLatin1String("nala")   ? QStringLiteral("NaLa")
           : kind == QLatin1String("pola") ? QStringLiteral("Pola")
                                           : QStringLiteral("Softmax");
}

}  // namespace

std::vector<ModelOption> builtin_model_options() {
    std::vector<ModelOption> models;
    for (const BuiltinModelInfo& info : builtin_models()) {
        ModelOption option;
        option.name = QString::fromStdString(info.name);
        option.scale = info.config.scale;
        const QString kind = kind_label(QLatin1String(attention_kind_name(info.config.attention)));
        const QString psnr =
            info.psnr_set5 ? QStringLiteral(" · Set5 %1 dB").arg(*info.psnr_set5, 0, 'f', 2) : QString();
        option.label = QStringLiteral("%1 ×%2 (built in%3)").arg(kind).arg(info.config.scale).arg(psnr);
        option.tooltip = QStringLiteral("%1, %2 parameters").arg(option.name, format_count(info.parameter_count));
        models.push_back(option);
    }
    return models;
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
            ModelOption option;
            option.path = path;
            option.label = QStringLiteral("%1 ×%2 — %3").arg(kind_label(match.captured(1)), match.captured(2), file);
            option.scale = match.captured(2).toInt();
            models.push_back(option);
        }
    }
    return models;
}

std::vector<ModelOption> model_options(const QStringList& folders) {
    std::vector<ModelOption> models = builtin_model_options();
    const std::size_t builtin_count = models.size();
    for (const ModelOption& file : discover_models(folders)) {
        const QString stem = QFileInfo(file.path).completeBaseName();
        const bool built_in = std::any_of(models.begin(), models.begin() + builtin_count,
                                          [&](const ModelOption& m) { return m.name == stem; });
        if (!built_in) models.push_back(file);
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

Status load_model(const EngineSpec& spec, Model* out) {
    if (!spec.model_path.isEmpty()) return Model::load_file(to_fs_path(spec.model_path), out);
    if (!spec.model_name.isEmpty()) return Model::load_builtin(spec.model_name.toStdString(), out);
    return Model::load_default(out);
}

Status create_engine(const EngineSpec& spec, std::unique_ptr<Engine>* out) {
    EngineParams params;
    if (Status st = parse_device(spec.device, &params); !st) return st;
    Model model;
    if (Status st = load_model(spec, &model); !st) return st;
    return Engine::create(model, params, out);
}

}  // namespace nalasr::gui
