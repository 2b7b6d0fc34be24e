// The run settings: scale and model (built in or a file), device, output folder, format, bit depth, overwrite policy,
// keeping the input's colours, and how "before" is enlarged.
#pragma once

#include <QWidget>

#include "app_settings.h"

class QCheckBox;
class QComboBox;
class QLineEdit;

namespace nalasr::gui {

class ControlsPanel : public QWidget {
    Q_OBJECT
public:
    explicit ControlsPanel(QWidget* parent = nullptr);

    // Writes the panel's choices into `settings` (other fields untouched).
    void store(AppSettings* settings) const;
    void load(const AppSettings& settings);

signals:
    void changed();

private:
    // Selects a model, built in (`name`) or a file (`path`); both empty: the default built-in model. Switches the
    // scale combo to the model's scale when that is known and lists that scale's models, plus a file not among them.
    void fill_models(const QString& name, const QString& path);
    void update_scales(const std::vector<ModelOption>& models, int selected_scale);
    void on_scale_activated(int index);
    void on_model_activated(int index);
    void browse_output_folder();
    void update_bit_depths();
    static void select_data(QComboBox* combo, const QVariant& data);

    QComboBox* scale_;
    QComboBox* model_;
    QComboBox* device_;
    QLineEdit* output_folder_;
    QComboBox* format_;
    QComboBox* bit_depth_;
    QComboBox* overwrite_;
    QCheckBox* keep_colours_;
    QCheckBox* tta_;
    QComboBox* before_;
    // The selected model (as in EngineSpec), restored when "Other file…" is cancelled.
    QString model_name_;
    QString model_path_;
};

}  // namespace nalasr::gui
