// The run settings: model, device, output folder, format, overwrite policy, and how "before" is enlarged.
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
    void fill_models(const QString& selected_path);
    void on_model_activated(int index);
    void browse_output_folder();
    static void select_data(QComboBox* combo, const QVariant& data);

    QComboBox* model_;
    QComboBox* device_;
    QLineEdit* output_folder_;
    QComboBox* format_;
    QComboBox* overwrite_;
    QComboBox* before_;
    QString last_model_path_;  // restored when "Other file…" is cancelled
};

}  // namespace nalasr::gui
