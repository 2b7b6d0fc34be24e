#include "controls_panel.h"

#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QToolButton>

namespace nalasr::gui {
namespace {

// Item data of the model combo's last entry, which opens a file dialog instead of naming a model.
const QString kOtherModel = QStringLiteral("<other>");

}  // namespace

ControlsPanel::ControlsPanel(QWidget* parent)
    : QWidget(parent),
      model_(new QComboBox),
      device_(new QComboBox),
      output_folder_(new QLineEdit),
      format_(new QComboBox),
      overwrite_(new QComboBox),
      before_(new QComboBox) {
    for (const DeviceOption& device : available_devices()) device_->addItem(device.label, device.id);
    output_folder_->setPlaceholderText(tr("next to each input"));
    output_folder_->setClearButtonEnabled(true);
    format_->addItem(tr("Same as input"), QLatin1String(output_format_id(OutputFormat::KeepInput)));
    format_->addItem(QStringLiteral("PNG"), QLatin1String(output_format_id(OutputFormat::Png)));
    format_->addItem(QStringLiteral("JPEG"), QLatin1String(output_format_id(OutputFormat::Jpeg)));
    format_->addItem(QStringLiteral("WebP"), QLatin1String(output_format_id(OutputFormat::Webp)));
    format_->addItem(QStringLiteral("TIFF"), QLatin1String(output_format_id(OutputFormat::Tiff)));
    overwrite_->addItem(tr("Add a number"), QLatin1String(overwrite_policy_id(OverwritePolicy::Rename)));
    overwrite_->addItem(tr("Overwrite"), QLatin1String(overwrite_policy_id(OverwritePolicy::Overwrite)));
    overwrite_->addItem(tr("Skip the image"), QLatin1String(overwrite_policy_id(OverwritePolicy::Skip)));
    before_->addItem(tr("Bicubic"), int(BeforeResampler::Bicubic));
    before_->addItem(tr("Nearest"), int(BeforeResampler::Nearest));
    fill_models({});

    auto* browse = new QToolButton;
    browse->setText(QStringLiteral("…"));
    browse->setToolTip(tr("Choose the output folder"));
    auto* folder_row = new QHBoxLayout;
    folder_row->setContentsMargins(0, 0, 0, 0);
    folder_row->addWidget(output_folder_, 1);
    folder_row->addWidget(browse);

    auto* form = new QFormLayout(this);
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    form->addRow(tr("Model"), model_);
    form->addRow(tr("Device"), device_);
    form->addRow(tr("Output folder"), folder_row);
    form->addRow(tr("Format"), format_);
    form->addRow(tr("If the file exists"), overwrite_);
    form->addRow(tr("Before side"), before_);

    connect(model_, &QComboBox::activated, this, &ControlsPanel::on_model_activated);
    connect(browse, &QToolButton::clicked, this, &ControlsPanel::browse_output_folder);
    for (QComboBox* combo : {device_, format_, overwrite_, before_})
        connect(combo, &QComboBox::currentIndexChanged, this, &ControlsPanel::changed);
    connect(output_folder_, &QLineEdit::editingFinished, this, &ControlsPanel::changed);
}

void ControlsPanel::fill_models(const QString& selected_path) {
    model_->clear();
    model_->addItem(tr("Default (built in, NaLa ×4)"), QString());
    for (const ModelOption& option : discover_models(default_model_folders()))
        model_->addItem(option.label, option.path);
    if (!selected_path.isEmpty() && model_->findData(selected_path) < 0)
        model_->addItem(QFileInfo(selected_path).fileName(), selected_path);
    model_->addItem(tr("Other file…"), kOtherModel);
    select_data(model_, selected_path);
    last_model_path_ = selected_path;
}

void ControlsPanel::on_model_activated(int index) {
    if (model_->itemData(index).toString() != kOtherModel) {
        last_model_path_ = model_->itemData(index).toString();
        emit changed();
        return;
    }
    const QString path = QFileDialog::getOpenFileName(this, tr("Choose a model"), QFileInfo(last_model_path_).path(),
                                                      tr("NalaSR models (*.safetensors)"));
    fill_models(path.isEmpty() ? last_model_path_ : path);
    emit changed();
}

void ControlsPanel::browse_output_folder() {
    const QString folder = QFileDialog::getExistingDirectory(this, tr("Output folder"), output_folder_->text());
    if (folder.isEmpty()) return;
    output_folder_->setText(folder);
    emit changed();
}

void ControlsPanel::select_data(QComboBox* combo, const QVariant& data) {
    const int index = combo->findData(data);
    combo->setCurrentIndex(index < 0 ? 0 : index);
}

void ControlsPanel::store(AppSettings* settings) const {
    settings->engine.model_path = last_model_path_;
    settings->engine.device = device_->currentData().toString();
    settings->output.folder = output_folder_->text().trimmed();
    settings->output.format = output_format_from_id(format_->currentData().toString());
    settings->output.overwrite = overwrite_policy_from_id(overwrite_->currentData().toString());
    settings->before = BeforeResampler(before_->currentData().toInt());
}

void ControlsPanel::load(const AppSettings& settings) {
    const QSignalBlocker blockers[] = {QSignalBlocker(model_), QSignalBlocker(device_), QSignalBlocker(format_),
                                       QSignalBlocker(overwrite_), QSignalBlocker(before_)};
    fill_models(settings.engine.model_path);
    select_data(device_, settings.engine.device);
    output_folder_->setText(settings.output.folder);
    select_data(format_, QLatin1String(output_format_id(settings.output.format)));
    select_data(overwrite_, QLatin1String(overwrite_policy_id(settings.output.overwrite)));
    select_data(before_, int(settings.before));
}

}  // namespace nalasr::gui
