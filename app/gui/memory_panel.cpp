#include "memory_panel.h"

#include <QCheckBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>
#include <QtCharts/QChart>
#include <QtCharts/QChartView>
#include <QtCharts/QLegendMarker>
#include <QtCharts/QLineSeries>
#include <QtCharts/QLogValueAxis>
#include <QtCharts/QScatterSeries>
#include <QtConcurrent/QtConcurrentRun>
#include <algorithm>

#include "format_text.h"

namespace nalasr::gui {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
// Real runs stay small: the panel must answer in seconds on a CPU.
constexpr int kMeasureUpToSide = 48;

QString kind_label(AttentionKind kind) {
    switch (kind) {
        case AttentionKind::Nala: return QStringLiteral("NaLa");
        case AttentionKind::Pola: return QStringLiteral("Pola");
        case AttentionKind::Softmax: return QStringLiteral("softmax");
    }
    return {};
}

QColor kind_colour(AttentionKind kind) {
    switch (kind) {
        case AttentionKind::Nala: return QColor(0x1f, 0x77, 0xb4);
        case AttentionKind::Pola: return QColor(0x2c, 0xa0, 0x2c);
        case AttentionKind::Softmax: return QColor(0xd6, 0x27, 0x28);
    }
    return Qt::black;
}

QLogValueAxis* log_axis(const QString& title, const QString& label_format) {
    auto* axis = new QLogValueAxis;
    axis->setBase(10);
    axis->setTitleText(title);
    axis->setLabelFormat(label_format);
    axis->setMinorTickCount(0);
    return axis;
}

}  // namespace

MemoryPanel::MemoryPanel(QWidget* parent)
    : QWidget(parent),
      chart_(new QChart),
      view_(new QChartView(chart_)),
      header_(new QLabel),
      summary_(new QLabel),
      measure_(new QCheckBox(tr("Also measure real runs up to %1×%1").arg(kMeasureUpToSide))),
      compute_button_(new QPushButton(tr("Compute"))) {
    header_->setWordWrap(true);
    header_->setText(tr("Peak working memory against input size, predicted by the engine's planner for each "
                        "attention kind. Press Compute."));
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    measure_->setChecked(true);
    view_->setRenderHint(QPainter::Antialiasing);
    view_->setMinimumHeight(220);
    chart_->setTitle(tr("Peak memory vs tokens"));
    chart_->legend()->setAlignment(Qt::AlignBottom);

    auto* controls = new QHBoxLayout;
    controls->addWidget(measure_);
    controls->addStretch();
    controls->addWidget(compute_button_);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(header_);
    layout->addLayout(controls);
    layout->addWidget(view_, 1);
    layout->addWidget(summary_);

    connect(compute_button_, &QPushButton::clicked, this, &MemoryPanel::compute);
    connect(&watcher_, &QFutureWatcher<Outcome>::finished, this, [this] { show_outcome(watcher_.result()); });
}

MemoryPanel::~MemoryPanel() {
    abort_ = true;
    watcher_.waitForFinished();
}

void MemoryPanel::set_engine_spec(const EngineSpec& spec) {
    spec_ = spec;
    if (has_result_ && !(spec_ == computed_spec_))
        header_->setText(tr("The model or device changed: press Compute to update the plot."));
}

void MemoryPanel::set_marker(std::size_t tokens, const QString& label) {
    marker_tokens_ = tokens;
    marker_label_ = label;
    update_marker();
}

void MemoryPanel::showEvent(QShowEvent* event) {
    QWidget::showEvent(event);
    if (!has_result_ && !watcher_.isRunning()) compute();
}

void MemoryPanel::update_marker() {
    if (marker_) {
        chart_->removeSeries(marker_);
        delete marker_;
        marker_ = nullptr;
    }
    const QList<QAbstractAxis*> x_axes = chart_->axes(Qt::Horizontal), y_axes = chart_->axes(Qt::Vertical);
    if (marker_tokens_ == 0 || x_axes.isEmpty() || y_axes.isEmpty()) return;
    const auto* y_axis = static_cast<QLogValueAxis*>(y_axes.first());
    marker_ = new QLineSeries;
    marker_->setName(tr("%1: %2 tokens").arg(marker_label_, format_count(marker_tokens_)));
    marker_->setPen(QPen(Qt::black, 1.5, Qt::DotLine));
    marker_->append(double(marker_tokens_), y_axis->min());
    marker_->append(double(marker_tokens_), y_axis->max());
    chart_->addSeries(marker_);
    marker_->attachAxis(x_axes.first());
    marker_->attachAxis(y_axes.first());
}

void MemoryPanel::compute() {
    if (watcher_.isRunning()) return;
    compute_button_->setEnabled(false);
    header_->setText(tr("Computing…"));
    abort_ = false;
    MemorySweepOptions options;
    options.sides = default_sweep_sides();
    options.measure_up_to_side = measure_->isChecked() ? kMeasureUpToSide : 0;
    options.should_abort = [this] { return abort_.load(); };
    const EngineSpec spec = spec_;
    computed_spec_ = spec;
    watcher_.setFuture(QtConcurrent::run([spec, options]() mutable {
        Outcome outcome;
        if (outcome.status = parse_device(spec.device, &options.engine); !outcome.status) return outcome;
        // The selected model's dimensions; the weights are irrelevant to memory, so they are random per kind.
        Model model;
        if (outcome.status = load_model(spec, &model); !outcome.status) return outcome;
        outcome.config = model.config();
        outcome.status = sweep_memory(outcome.config, options, &outcome.sweep);
        return outcome;
    }));
}

void MemoryPanel::show_outcome(const Outcome& outcome) {
    compute_button_->setEnabled(true);
    if (!outcome.status) {
        header_->setText(tr("Memory sweep failed: %1").arg(QString::fromStdString(outcome.status.message())));
        emit computed(false);
        return;
    }
    const MemorySweep& sweep = outcome.sweep;
    const ModelConfig& c = outcome.config;
    header_->setText(tr("Model size C=%1, heads=%2, G=%3, B=%4, ×%5 on %6. Lines: the planner's prediction; "
                        "dots: measured peaks of real runs.")
                         .arg(c.channels).arg(c.heads).arg(c.groups).arg(c.blocks).arg(c.scale)
                         .arg(QString::fromStdString(sweep.backend)));

    has_result_ = true;
    chart_->removeAllSeries();
    marker_ = nullptr;
    for (QAbstractAxis* axis : chart_->axes()) {
        chart_->removeAxis(axis);
        delete axis;
    }
    auto* x_axis = log_axis(tr("tokens (input width × height)"), QStringLiteral("%g"));
    auto* y_axis = log_axis(tr("peak working memory (MiB)"), QStringLiteral("%g"));
    chart_->addAxis(x_axis, Qt::AlignBottom);
    chart_->addAxis(y_axis, Qt::AlignLeft);
    auto attach = [&](QXYSeries* series) {
        chart_->addSeries(series);
        series->attachAxis(x_axis);
        series->attachAxis(y_axis);
    };

    // Softmax leaves the top of the plot on purpose: the range follows the linear kinds and the free memory.
    double min_tokens = 1e300, max_tokens = 0, min_mib = 1e300, max_linear_mib = 0;
    // Reverse order: NaLa is drawn last, on top of Pola where their curves coincide.
    for (auto curve = sweep.curves.rbegin(); curve != sweep.curves.rend(); ++curve) {
        auto* predicted = new QLineSeries;
        predicted->setName(kind_label(curve->kind));
        QPen pen(kind_colour(curve->kind), curve->kind == AttentionKind::Nala ? 2.5 : 2);
        if (curve->kind == AttentionKind::Pola) pen.setStyle(Qt::DashLine);
        predicted->setPen(pen);
        for (const MemoryPoint& p : curve->predicted) {
            if (p.bytes == 0) continue;  // a zero has no place on a log axis
            predicted->append(double(p.tokens), p.bytes / kMiB);
            min_tokens = std::min(min_tokens, double(p.tokens));
            max_tokens = std::max(max_tokens, double(p.tokens));
            min_mib = std::min(min_mib, p.bytes / kMiB);
            if (curve->kind != AttentionKind::Softmax) max_linear_mib = std::max(max_linear_mib, p.bytes / kMiB);
        }
        attach(predicted);
        if (curve->measured.empty()) continue;
        auto* measured = new QScatterSeries;
        measured->setColor(kind_colour(curve->kind));
        measured->setBorderColor(Qt::white);
        measured->setMarkerSize(9);
        for (const MemoryPoint& p : curve->measured)
            if (p.bytes > 0) measured->append(double(p.tokens), p.bytes / kMiB);
        attach(measured);
        chart_->legend()->markers(measured).first()->setVisible(false);  // the header explains the dots
    }
    if (sweep.available_bytes > 0 && max_tokens > 0) {
        auto* available = new QLineSeries;
        available->setName(tr("free now: %1").arg(format_bytes(sweep.available_bytes)));
        available->setPen(QPen(Qt::darkGray, 1.5, Qt::DashLine));
        available->append(min_tokens, sweep.available_bytes / kMiB);
        available->append(max_tokens, sweep.available_bytes / kMiB);
        attach(available);
    }
    if (max_tokens > 0) {
        x_axis->setRange(min_tokens, max_tokens);
        y_axis->setRange(min_mib / 2, std::max(max_linear_mib, sweep.available_bytes / kMiB) * 4);
    }
    update_marker();
    summary_->setText(summary(sweep));
    emit computed(true);
}

QString MemoryPanel::summary(const MemorySweep& sweep) const {
    QStringList parts;
    for (const MemoryCurve& curve : sweep.curves) {
        const int side = curve.largest_side_that_fits;
        parts << tr("%1: largest square that fits ≈ %2")
                     .arg(kind_label(curve.kind),
                          side == 0 ? tr("none") : tr("%1×%1 (%2 MP)").arg(side).arg(side * double(side) / 1e6, 0, 'f', 1));
    }
    return parts.join(QStringLiteral("  ·  "));
}

}  // namespace nalasr::gui
