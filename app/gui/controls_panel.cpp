#include "controls_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QStandardItemModel>
#include <QToolButton>
#include <algorithm>

namespace nalasr::gui {
namespace {

// Item data of the model combo's last entry, which opens a file dialog instead of naming a model.
const QString kOtherModel = QStringLiteral("<other>");
// Model combo item data: a file's path (the combo's data role), a built-in model's name.
constexpr int kPathRole = Qt::UserRole;
constexpr int kNameRole = Qt::UserRole + 1;
// The scale shown when no model of known scale is selected.
constexpr int kDefaultScale = 4;

// The option a selection names: a file by its path, else a built-in model by its name (as in load_model).
const ModelOption* find_option(const std::vector<ModelOption>& models, const QString& name, const QString& path) {
    for (const ModelOption& option : models) {
        const bool match = path.isEmpty() ? !name.isEmpty() && option.name == name : option.path == path;
        if (match) return &option;
    }
    return nullptr;
}

}  // namespace

ControlsPanel::ControlsPanel(QWidget* parent)
    : QWidget(parent),
      scale_(new QComboBox),
      model_(new QComboBox),
      device_(new QComboBox),
      output_folder_(new QLineEdit),
      format_(new QComboBox),
      bit_depth_(new QComboBox),
      overwrite_(new QComboBox),
      keep_colours_(new QCheckBox(tr("Keep input colours"))),
      tta_(new QCheckBox(tr("TTA (8× slower, slightly more accurate)"))),
      before_(new QComboBox) {
    scale_->setObjectName(QStringLiteral("scale"));
    model_->setObjectName(QStringLiteral("model"));
    for (int scale : {2, 3, 4}) scale_->addItem(QStringLiteral("×%1").arg(scale), scale);
    scale_->setCurrentIndex(scale_->findData(kDefaultScale));
    for (const DeviceOption& device : available_devices()) device_->addItem(device.label, device.id);
    output_folder_->setPlaceholderText(tr("next to each input"));
    output_folder_->setClearButtonEnabled(true);
    format_->addItem(tr("Same as input"), QLatin1String(output_format_id(OutputFormat::KeepInput)));
    format_->addItem(QStringLiteral("PNG"), QLatin1String(output_format_id(OutputFormat::Png)));
    format_->addItem(QStringLiteral("JPEG"), QLatin1String(output_format_id(OutputFormat::Jpeg)));
    format_->addItem(QStringLiteral("WebP"), QLatin1String(output_format_id(OutputFormat::Webp)));
    format_->addItem(QStringLiteral("TIFF"), QLatin1String(output_format_id(OutputFormat::Tiff)));
    bit_depth_->addItem(tr("Same as input"), QLatin1String(output_bit_depth_id(OutputBitDepth::KeepInput)));
    bit_depth_->addItem(tr("8-bit"), QLatin1String(output_bit_depth_id(OutputBitDepth::U8)));
    bit_depth_->addItem(tr("16-bit"), QLatin1String(output_bit_depth_id(OutputBitDepth::U16)));
    bit_depth_->addItem(tr("32-bit float"), QLatin1String(output_bit_depth_id(OutputBitDepth::F32)));
    update_bit_depths();
    overwrite_->addItem(tr("Add a number"), QLatin1String(overwrite_policy_id(OverwritePolicy::Rename)));
    overwrite_->addItem(tr("Overwrite"), QLatin1String(overwrite_policy_id(OverwritePolicy::Overwrite)));
    overwrite_->addItem(tr("Skip the image"), QLatin1String(overwrite_policy_id(OverwritePolicy::Skip)));
    keep_colours_->setObjectName(QStringLiteral("keep_colours"));
    keep_colours_->setToolTip(tr("The network's detail (luminance) with the colours of the input, enlarged with "
                                 "bicubic: against colour or tone shifts"));
    tta_->setObjectName(QStringLiteral("tta"));
    tta_->setToolTip(tr("Test-time augmentation: the network runs on the 8 flips and rotations of the image and the "
                        "results are averaged. 8× the network's time, the same GPU memory; a little more accurate"));
    before_->addItem(tr("Bicubic"), int(BeforeResampler::Bicubic));
    before_->addItem(tr("Nearest"), int(BeforeResampler::Nearest));
    fill_models({}, {});

    auto* browse = new QToolButton;
    browse->setText(QStringLiteral("…"));
    browse->setToolTip(tr("Choose the output folder"));
    auto* folder_row = new QHBoxLayout;
    folder_row->setContentsMargins(0, 0, 0, 0);
    folder_row->addWidget(output_folder_, 1);
    folder_row->addWidget(browse);

    auto* form = new QFormLayout(this);
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    form->addRow(tr("Scale"), scale_);
    form->addRow(tr("Model"), model_);
    form->addRow(tr("Device"), device_);
    form->addRow(tr("Output folder"), folder_row);
    form->addRow(tr("Format"), format_);
    form->addRow(tr("Bit depth"), bit_depth_);
    form->addRow(tr("If the file exists"), overwrite_);
    form->addRow(QString(), keep_colours_);
    form->addRow(QString(), tta_);
    form->addRow(tr("Before side"), before_);

    connect(scale_, &QComboBox::activated, this, &ControlsPanel::on_scale_activated);
    connect(model_, &QComboBox::activated, this, &ControlsPanel::on_model_activated);
    connect(browse, &QToolButton::clicked, this, &ControlsPanel::browse_output_folder);
    connect(format_, &QComboBox::currentIndexChanged, this, &ControlsPanel::update_bit_depths);
    for (QComboBox* combo : {device_, format_, bit_depth_, overwrite_, before_})
        connect(combo, &QComboBox::currentIndexChanged, this, &ControlsPanel::changed);
    connect(output_folder_, &QLineEdit::editingFinished, this, &ControlsPanel::changed);
    for (QCheckBox* box : {keep_colours_, tta_}) connect(box, &QCheckBox::toggled, this, &ControlsPanel::changed);
}

void ControlsPanel::fill_models(const QString& name, const QString& path) {
    const std::vector<ModelOption> models = model_options(default_model_folders());
    // No selection, or a built-in model this build lacks: the default model.
    const bool known = !path.isEmpty() || find_option(models, name, path);
    const QString wanted_name = known ? name : QString::fromLatin1(kDefaultModelName);
    const ModelOption* selected = find_option(models, wanted_name, path);
    update_scales(models, selected ? selected->scale : 0);  // a file of unknown scale leaves the scale as it is
    const int scale = scale_->currentData().toInt();
    model_->clear();
    for (const ModelOption& option : models) {
        if (option.scale != scale) continue;
        model_->addItem(option.label, option.path);
        model_->setItemData(model_->count() - 1, option.name, kNameRole);
        if (!option.tooltip.isEmpty()) model_->setItemData(model_->count() - 1, option.tooltip, Qt::ToolTipRole);
    }
    if (!path.isEmpty() && !selected) model_->addItem(QFileInfo(path).fileName(), path);
    model_->addItem(tr("Other file…"), kOtherModel);
    const int index = path.isEmpty() ? model_->findData(wanted_name, kNameRole) : model_->findData(path, kPathRole);
    model_->setCurrentIndex(std::max(index, 0));
    // What is shown is what runs; "Other file…" alone (no model of this scale) runs the default model.
    const bool other = model_->currentData(kPathRole).toString() == kOtherModel;
    model_name_ = other ? QString() : model_->currentData(kNameRole).toString();
    model_path_ = other ? QString() : model_->currentData(kPathRole).toString();
}

void ControlsPanel::update_scales(const std::vector<ModelOption>& models, int selected_scale) {
    auto* items = static_cast<QStandardItemModel*>(scale_->model());
    for (int i = 0; i < scale_->count(); ++i) {
        const int scale = scale_->itemData(i).toInt();
        const bool available =
            std::any_of(models.begin(), models.end(), [&](const ModelOption& m) { return m.scale == scale; });
        items->item(i)->setEnabled(available);
        items->item(i)->setToolTip(available ? QString() : tr("No ×%1 model built in or found").arg(scale));
    }
    if (selected_scale != 0) scale_->setCurrentIndex(scale_->findData(selected_scale));
}

// Picks the scale's built-in NaLa model, else its first model (built in, then found on disk).
void ControlsPanel::on_scale_activated(int index) {
    const int scale = scale_->itemData(index).toInt();
    std::string builtin;
    if (builtin_model_name(scale, AttentionKind::Nala, &builtin)) {
        fill_models(QString::fromStdString(builtin), {});
    } else {
        const std::vector<ModelOption> models = model_options(default_model_folders());
        auto first = std::find_if(models.begin(), models.end(), [&](const ModelOption& m) { return m.scale == scale; });
        if (first != models.end()) fill_models(first->name, first->path);
        else fill_models(model_name_, model_path_);  // a disabled scale: keep the model
    }
    emit changed();
}

void ControlsPanel::on_model_activated(int index) {
    if (model_->itemData(index, kPathRole).toString() != kOtherModel) {
        model_name_ = model_->itemData(index, kNameRole).toString();
        model_path_ = model_->itemData(index, kPathRole).toString();
        emit changed();
        return;
    }
    const QString path = QFileDialog::getOpenFileName(this, tr("Choose a model"), QFileInfo(model_path_).path(),
                                                      tr("NalaSR models (*.safetensors)"));
    if (path.isEmpty()) fill_models(model_name_, model_path_);
    else fill_models({}, path);
    emit changed();
}

void ControlsPanel::browse_output_folder() {
    const QString folder = QFileDialog::getExistingDirectory(this, tr("Output folder"), output_folder_->text());
    if (folder.isEmpty()) return;
    output_folder_->setText(folder);
    emit changed();
}

// Only TIFF stores float samples (save_image would turn them into 16-bit for PNG), so "32-bit float" is offered
// for TIFF alone; a float choice falls back to "Same as input" when the format changes.
void ControlsPanel::update_bit_depths() {
    const bool tiff = output_format_from_id(format_->currentData().toString()) == OutputFormat::Tiff;
    const int index = bit_depth_->findData(QLatin1String(output_bit_depth_id(OutputBitDepth::F32)));
    auto* items = static_cast<QStandardItemModel*>(bit_depth_->model());
    items->item(index)->setEnabled(tiff);
    items->item(index)->setToolTip(tiff ? QString() : tr("Only TIFF stores float samples"));
    if (!tiff && bit_depth_->currentIndex() == index) bit_depth_->setCurrentIndex(0);
}

void ControlsPanel::select_data(QComboBox* combo, const QVariant& data) {
    const int index = combo->findData(data);
    combo->setCurrentIndex(index < 0 ? 0 : index);
}

void ControlsPanel::store(AppSettings* settings) const {
    settings->engine.model_path = model_path_;
    settings->engine.model_name = model_name_;
    settings->engine.device = device_->currentData().toString();
    settings->output.folder = output_folder_->text().trimmed();
    settings->output.format = output_format_from_id(format_->currentData().toString());
    settings->output.bit_depth = output_bit_depth_from_id(bit_depth_->currentData().toString());
    settings->output.overwrite = overwrite_policy_from_id(overwrite_->currentData().toString());
    settings->output.keep_colours = keep_colours_->isChecked();
    settings->output.tta = tta_->isChecked();
    settings->before = BeforeResampler(before_->currentData().toInt());
}

void ControlsPanel::load(const AppSettings& settings) {
    const QSignalBlocker blockers[] = {QSignalBlocker(scale_),     QSignalBlocker(model_),
                                       QSignalBlocker(device_),    QSignalBlocker(format_),
                                       QSignalBlocker(bit_depth_), QSignalBlocker(overwrite_),
                                       QSignalBlocker(keep_colours_), QSignalBlocker(tta_),
                                       QSignalBlocker(before_)};
    fill_models(settings.engine.model_name, settings.engine.model_path);
    select_data(device_, settings.engine.device);
    output_folder_->setText(settings.output.folder);
    select_data(format_, QLatin1String(output_format_id(settings.output.format)));
    select_data(bit_depth_, QLatin1String(output_bit_depth_id(settings.output.bit_depth)));
    update_bit_depths();
    select_data(overwrite_, QLatin1String(overwrite_policy_id(settings.output.overwrite)));
    keep_colours_->setChecked(settings.output.keep_colours);
    tta_->setChecked(settings.output.tta);
    select_data(before_, int(settings.before));
}

}  // namespace nalasr::gui
