#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QCloseEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListView>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QStandardPaths>
#include <QStatusBar>
#include <QStyle>
#include <QTabWidget>
#include <QToolBar>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include "about.h"
#include "compare_view.h"
#include "controls_panel.h"
#include "input_collector.h"
#include "left_side_combo.h"
#include "memory_panel.h"

namespace nalasr::gui {
namespace {

// Where pasted and dropped bitmaps are written, so the engine can read them like any file.
QString paste_folder() {
    return QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation) + QStringLiteral("/pasted");
}

}  // namespace

MainWindow::MainWindow(QSettings& settings, QWidget* parent)
    : QMainWindow(parent),
      store_(settings),
      settings_(AppSettings::load(settings)),
      controller_(&queue_),
      list_(new QListView),
      controls_(new ControlsPanel),
      tabs_(new QTabWidget),
      compare_(new CompareView),
      memory_(new MemoryPanel),
      progress_(new QProgressBar),
      progress_text_(new QLabel),
      run_button_(new QPushButton(tr("Run"))),
      cancel_button_(new QPushButton(tr("Cancel"))),
      splitter_(new QSplitter) {
    setWindowTitle(QStringLiteral("NalaSR"));
    setAcceptDrops(true);
    create_layout();
    create_actions();
    create_connections();
    controls_->load(settings_);
    compare_->set_resampler(settings_.before);
    memory_->set_engine_spec(settings_.engine);
    set_running(false);
    if (!settings_.window_geometry.isEmpty()) restoreGeometry(settings_.window_geometry);
    else resize(1180, 760);
    if (!settings_.window_state.isEmpty()) splitter_->restoreState(settings_.window_state);
    refresh_model_scale();
    statusBar()->showMessage(tr("Ready"));
}

MainWindow::~MainWindow() {
    controller_.cancel();
    model_probe_.waitForFinished();
}

void MainWindow::create_layout() {
    list_->setModel(&queue_);
    list_->setIconSize(QSize(64, 64));
    list_->setSpacing(2);
    list_->setUniformItemSizes(true);
    list_->setSelectionMode(QAbstractItemView::ExtendedSelection);
    list_->setTextElideMode(Qt::ElideMiddle);
    list_->setWordWrap(false);

    auto* left = new QWidget;
    auto* left_layout = new QVBoxLayout(left);
    left_layout->setContentsMargins(6, 6, 0, 6);
    left_layout->addWidget(new QLabel(tr("<b>Queue</b> — drop images or folders here")));
    left_layout->addWidget(list_, 1);
    left_layout->addWidget(controls_);

    tabs_->addTab(compare_, tr("Compare"));
    tabs_->addTab(memory_, tr("Memory"));

    progress_->setRange(0, 100);
    progress_->setTextVisible(true);
    progress_->setVisible(false);  // until the first run
    progress_text_->setMinimumWidth(200);
    cancel_button_->setToolTip(tr("Stop the running image (Esc); no partial file is left"));
    auto* run_bar = new QHBoxLayout;
    run_bar->addWidget(progress_, 2);
    run_bar->addWidget(progress_text_, 3);
    run_bar->addWidget(run_button_);
    run_bar->addWidget(cancel_button_);

    auto* right = new QWidget;
    auto* right_layout = new QVBoxLayout(right);
    right_layout->setContentsMargins(0, 6, 6, 6);
    right_layout->addWidget(tabs_, 1);
    right_layout->addLayout(run_bar);

    splitter_->addWidget(left);
    splitter_->addWidget(right);
    splitter_->setStretchFactor(0, 0);
    splitter_->setStretchFactor(1, 1);
    splitter_->setSizes({340, 840});
    setCentralWidget(splitter_);
}

QAction* MainWindow::add_action(QMenu* menu, const QString& name, const QString& text,
                                const QList<QKeySequence>& keys) {
    auto* action = new QAction(text, this);
    action->setObjectName(name);
    action->setShortcuts(keys);
    menu->addAction(action);
    return action;
}

QAction* MainWindow::action(const QString& name) const { return findChild<QAction*>(name); }

void MainWindow::create_actions() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    connect(add_action(file, "open", tr("&Open images…"), {QKeySequence::Open}), &QAction::triggered, this,
            &MainWindow::open_files);
    connect(add_action(file, "paste", tr("&Paste"), {QKeySequence::Paste}), &QAction::triggered, this,
            &MainWindow::paste);
    connect(add_action(file, "remove", tr("&Remove from queue"), {QKeySequence::Delete}), &QAction::triggered,
            this, &MainWindow::remove_selected);
    file->addSeparator();
    connect(add_action(file, "quit", tr("&Quit"), {QKeySequence::Quit}), &QAction::triggered, this,
            &QWidget::close);

    QMenu* run_menu = menuBar()->addMenu(tr("&Run"));
    connect(add_action(run_menu, "run", tr("&Run queue"), {QKeySequence(Qt::CTRL | Qt::Key_R)}),
            &QAction::triggered, this, &MainWindow::run);
    connect(add_action(run_menu, "cancel", tr("&Cancel"), {QKeySequence(Qt::Key_Escape)}), &QAction::triggered,
            this, &MainWindow::cancel);

    QMenu* view = menuBar()->addMenu(tr("&View"));
    connect(add_action(view, "zoom_in", tr("Zoom &in"),
                       {QKeySequence(Qt::CTRL | Qt::Key_Equal), QKeySequence(Qt::CTRL | Qt::Key_Plus)}),
            &QAction::triggered, compare_, &CompareView::zoom_in);
    connect(add_action(view, "zoom_out", tr("Zoom &out"), {QKeySequence(Qt::CTRL | Qt::Key_Minus)}),
            &QAction::triggered, compare_, &CompareView::zoom_out);
    connect(add_action(view, "zoom_fit", tr("&Fit"), {QKeySequence(Qt::CTRL | Qt::Key_0)}), &QAction::triggered,
            compare_, &CompareView::zoom_to_fit);
    connect(add_action(view, "zoom_100", tr("&100 %"), {QKeySequence(Qt::CTRL | Qt::Key_1)}), &QAction::triggered,
            compare_, &CompareView::zoom_to_actual_size);
    view->addSeparator();
    connect(add_action(view, "memory", tr("&Memory panel"), {QKeySequence(Qt::CTRL | Qt::Key_M)}),
            &QAction::triggered, this, &MainWindow::show_memory_tab);

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    connect(add_action(help, "about", tr("&About NalaSR"), {}), &QAction::triggered, this,
            [this] { show_about(this); });

    QToolBar* toolbar = addToolBar(tr("Main"));
    toolbar->setObjectName("main_toolbar");
    toolbar->setMovable(false);
    toolbar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    action("open")->setIcon(style()->standardIcon(QStyle::SP_DialogOpenButton));
    action("run")->setIcon(style()->standardIcon(QStyle::SP_MediaPlay));
    action("cancel")->setIcon(style()->standardIcon(QStyle::SP_MediaStop));
    for (const char* name : {"open", "run", "cancel"}) toolbar->addAction(action(name));
    toolbar->addSeparator();
    for (const char* name : {"zoom_fit", "zoom_100", "zoom_in", "zoom_out"}) toolbar->addAction(action(name));
    toolbar->addSeparator();
    auto* left_side = new LeftSideCombo(compare_);
    connect(left_side, &LeftSideCombo::compareWithRequested, this, &MainWindow::choose_other_result);
    toolbar->addWidget(left_side);
}

void MainWindow::create_connections() {
    connect(run_button_, &QPushButton::clicked, this, &MainWindow::run);
    connect(cancel_button_, &QPushButton::clicked, this, &MainWindow::cancel);
    connect(controls_, &ControlsPanel::changed, this, &MainWindow::settings_changed);
    connect(list_->selectionModel(), &QItemSelectionModel::currentChanged, this, [this] {
        compare_->clear_other_result();  // it was chosen for the previous item
        refresh_preview();
    });

    connect(&controller_, &QueueController::runningChanged, this, &MainWindow::set_running);
    connect(&controller_, &QueueController::progressChanged, this, [this](int percent, const QString& text) {
        progress_->setVisible(true);
        progress_->setValue(percent);
        progress_text_->setText(text);
    });
    connect(&controller_, &QueueController::message, this, [this](const QString& text) {
        statusBar()->showMessage(text);
    });
    connect(&controller_, &QueueController::jobFinished, this, [this](quint64 id) {
        if (id == selected_id()) refresh_preview();
    });
    connect(&controller_, &QueueController::engineFailed, this, [this](const QString& text) {
        auto* box = new QMessageBox(QMessageBox::Warning, tr("Cannot start"), text, QMessageBox::Ok, this);
        box->setAttribute(Qt::WA_DeleteOnClose);
        box->open();  // not exec(): the window stays responsive
    });

    connect(&loader_, &ImageLoader::thumbnailLoaded, &queue_, &QueueModel::set_image_info);
    connect(&loader_, &ImageLoader::thumbnailFailed, &queue_, &QueueModel::set_load_error);
    connect(&loader_, &ImageLoader::previewLoaded, this,
            [this](quint64 id, const PreviewImages& images, const QString& error) {
                if (id != selected_id()) return;
                if (images.input.isNull()) {
                    compare_->clear(error);
                } else {
                    compare_->set_images(images);
                    memory_->set_marker(std::size_t(images.input.width()) * images.input.height(),
                                        QFileInfo(queue_.item(id)->input).fileName());
                }
                if (!error.isEmpty()) statusBar()->showMessage(error);
            });
    connect(&loader_, &ImageLoader::otherResultLoaded, this, &MainWindow::show_other_result);
    connect(&model_probe_, &QFutureWatcher<ModelProbe>::finished, this, [this] {
        const ModelProbe probe = model_probe_.result();
        if (!probe.error.isEmpty()) {
            statusBar()->showMessage(tr("Model: %1").arg(probe.error));
            return;
        }
        model_scale_ = probe.scale;
        refresh_preview();
    });
}

void MainWindow::settings_changed() {
    const EngineSpec old_engine = settings_.engine;
    controls_->store(&settings_);
    settings_.save(store_);
    compare_->set_resampler(settings_.before);
    memory_->set_engine_spec(settings_.engine);
    if (!(old_engine == settings_.engine)) refresh_model_scale();
}

void MainWindow::refresh_model_scale() {
    if (model_probe_.isRunning()) model_probe_.waitForFinished();
    const EngineSpec spec = settings_.engine;
    model_probe_.setFuture(QtConcurrent::run([spec] {
        Model model;
        ModelProbe probe;
        if (Status st = load_model(spec, &model); !st) probe.error = QString::fromStdString(st.message());
        else probe.scale = model.config().scale;
        return probe;
    }));
}

int MainWindow::add_paths(const QStringList& paths) {
    int added = 0;
    quint64 first = 0;
    for (const QString& path : expand_inputs(paths)) {
        const quint64 id = queue_.add(path);
        if (id == 0) continue;
        if (first == 0) first = id;
        ++added;
        loader_.load_thumbnail(id, path);
    }
    if (added > 0 && selected_id() == 0) select_row(queue_.row_of(first));
    statusBar()->showMessage(added == 1 ? tr("Added 1 image") : tr("Added %1 images").arg(added));
    return added;
}

void MainWindow::select_row(int row) {
    if (row < 0 || row >= queue_.rowCount()) return;
    list_->setCurrentIndex(queue_.index(row));
}

void MainWindow::show_memory_tab() { tabs_->setCurrentWidget(memory_); }

quint64 MainWindow::selected_id() const {
    const QModelIndex current = list_->currentIndex();
    return current.isValid() ? current.data(QueueModel::IdRole).toULongLong() : 0;
}

void MainWindow::refresh_preview() {
    const QueueItem* item = queue_.item(selected_id());
    if (!item) {
        compare_->clear();
        return;
    }
    const QString output = item->state == JobState::Done ? item->result.output : QString();
    loader_.load_preview(item->id, item->input, output, model_scale_);
}

void MainWindow::remove_selected() {
    if (controller_.is_running()) {
        statusBar()->showMessage(tr("The queue cannot change while it runs"));
        return;
    }
    QModelIndexList rows = list_->selectionModel()->selectedRows();
    std::sort(rows.begin(), rows.end(), [](const QModelIndex& a, const QModelIndex& b) { return a.row() > b.row(); });
    for (const QModelIndex& index : rows) queue_.remove_rows(index.row(), 1);
    refresh_preview();
}

void MainWindow::open_files() {
    const QStringList files =
        QFileDialog::getOpenFileNames(this, tr("Open images"), settings_.last_open_folder, image_file_filter());
    if (files.isEmpty()) return;
    settings_.last_open_folder = QFileInfo(files.first()).absolutePath();
    add_paths(files);
}

void MainWindow::choose_other_result() {
    if (compare_->output_size().isEmpty()) {
        statusBar()->showMessage(tr("Select an image in the queue first"));
        return;
    }
    // Other results usually lie next to this one.
    const QueueItem* item = queue_.item(selected_id());
    const QString folder = item && item->state == JobState::Done ? QFileInfo(item->result.output).absolutePath()
                                                                 : settings_.last_open_folder;
    const QString file = QFileDialog::getOpenFileName(this, tr("Compare with"), folder, image_file_filter());
    if (!file.isEmpty()) compare_with(file);
}

void MainWindow::compare_with(const QString& path) {
    other_result_for_ = selected_id();
    loader_.load_other_result(path);
}

void MainWindow::show_other_result(const QString& path, const QImage& image, const QString& error) {
    if (other_result_for_ != selected_id()) return;  // chosen for an item no longer shown
    const QString name = QFileInfo(path).fileName();
    const QString refusal = image.isNull() ? error : compare_->set_other_result(image, name);
    if (refusal.isEmpty()) {
        statusBar()->showMessage(tr("Left side: %1").arg(name));
        return;
    }
    statusBar()->showMessage(refusal);
    auto* box = new QMessageBox(QMessageBox::Warning, tr("Cannot compare"), refusal, QMessageBox::Ok, this);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

void MainWindow::paste() {
    const QMimeData* mime = QApplication::clipboard()->mimeData();
    const QStringList paths = mime ? inputs_from_mime(*mime, paste_folder()) : QStringList();
    if (paths.isEmpty()) {
        statusBar()->showMessage(tr("The clipboard holds no image or image file"));
        return;
    }
    add_paths(paths);
}

void MainWindow::run() {
    controls_->store(&settings_);
    controller_.run(settings_.engine, settings_.output);
}

void MainWindow::cancel() { controller_.cancel(); }

void MainWindow::set_running(bool running) {
    run_button_->setEnabled(!running);
    cancel_button_->setEnabled(running);
    action("run")->setEnabled(!running);
    action("cancel")->setEnabled(running);
    action("remove")->setEnabled(!running);
    controls_->setEnabled(!running);
}

void MainWindow::closeEvent(QCloseEvent* event) {
    controller_.cancel();
    controls_->store(&settings_);
    settings_.window_geometry = saveGeometry();
    settings_.window_state = splitter_->saveState();
    settings_.save(store_);
    event->accept();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    if (event->mimeData()->hasUrls() || event->mimeData()->hasImage()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
    add_paths(inputs_from_mime(*event->mimeData(), paste_folder()));
    event->acceptProposedAction();
}

}  // namespace nalasr::gui
