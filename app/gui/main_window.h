// The main window: the queue (left), the settings under it, the before/after view and the memory panel
// (tabs, right), and the run bar (progress, Run, Cancel). It wires widgets to the QueueController and
// the ImageLoader; the work itself happens there.
#pragma once

#include <QFutureWatcher>
#include <QMainWindow>
#include <QSettings>

#include "app_settings.h"
#include "image_loader.h"
#include "queue_controller.h"
#include "queue_model.h"

class QLabel;
class QListView;
class QProgressBar;
class QPushButton;
class QSplitter;
class QTabWidget;

namespace nalasr::gui {

class CompareView;
class ControlsPanel;
class MemoryPanel;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    // Settings are read now and written back when the window closes (or settings change).
    explicit MainWindow(QSettings& settings, QWidget* parent = nullptr);
    ~MainWindow() override;

    // Adds files and folders (folders are searched for images) to the queue; returns how many were new.
    int add_paths(const QStringList& paths);
    void select_row(int row);
    void show_memory_tab();

    QueueModel& queue() { return queue_; }
    QueueController& controller() { return controller_; }
    CompareView& compare_view() { return *compare_; }
    MemoryPanel& memory_panel() { return *memory_; }
    // The action with this object name ("open", "run", "cancel", "zoom_in", ...), for tests.
    QAction* action(const QString& name) const;

public slots:
    void open_files();
    // Asks for an image to show on the left side of the split instead of the input.
    void choose_other_result();
    // Loads `path` (off the GUI thread) as that image; the compare view then switches to it.
    void compare_with(const QString& path);
    void paste();
    void run();
    void cancel();

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    struct ModelProbe {  // the selected model's scale, or why it cannot be loaded
        int scale = 0;
        QString error;
    };

    void create_actions();
    void create_layout();
    void create_connections();
    QAction* add_action(QMenu* menu, const QString& name, const QString& text, const QList<QKeySequence>& keys);
    void settings_changed();
    void refresh_model_scale();
    void refresh_preview();
    void show_other_result(const QString& path, const QImage& image, const QString& error);
    void remove_selected();
    void set_running(bool running);
    quint64 selected_id() const;

    QSettings& store_;
    AppSettings settings_;
    QueueModel queue_;
    QueueController controller_;
    ImageLoader loader_;
    QFutureWatcher<ModelProbe> model_probe_;
    int model_scale_ = 4;  // of the selected model, for previews of images not upscaled yet
    quint64 other_result_for_ = 0;  // the item shown when "Compare with…" was chosen

    QListView* list_;
    ControlsPanel* controls_;
    QTabWidget* tabs_;
    CompareView* compare_;
    MemoryPanel* memory_;
    QProgressBar* progress_;
    QLabel* progress_text_;
    QPushButton* run_button_;
    QPushButton* cancel_button_;
    QSplitter* splitter_;
};

}  // namespace nalasr::gui
