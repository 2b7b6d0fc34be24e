// The run settings: scale and model, device, output folder, format, bit depth, overwrite policy, and how "before" is
// enlarged.
#pragma once

#include <QWidget>

#include "app_settings.h"

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
    // Lists the models of the scale combo's scale (first switching it to the scale of `selected_path` when
    // that is known) plus `selected_path` itself.
    void fill_models(const QString& selected_path);
    void update_scales(const std::vector<ModelOption>& models, const QString& selected_path);
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
    QComboBox* before_;
    QString last_model_path_;  // restored when "Other file…" is cancelled
};

}  // namespace nalasr::gui
