// The memory panel: predicted (and, for small sizes, measured) peak working memory against tokens, log-log,
// for NaLa, Pola and softmax attention, with the memory the chosen device has free. Shows why NaLa can take
// a whole image as one attention sequence and softmax cannot.
#pragma once

#include <QFutureWatcher>
#include <QWidget>
#include <atomic>

#include "engine_setup.h"
#include "memory_sweep.h"

class QCheckBox;
class QLabel;
class QPushButton;
class QChart;
class QChartView;
class QLineSeries;

namespace nalasr::gui {

class MemoryPanel : public QWidget {
    Q_OBJECT
public:
    explicit MemoryPanel(QWidget* parent = nullptr);
    ~MemoryPanel() override;

    // The model whose size (C, heads, G, B, scale) the sweep uses, and the device it predicts for.
    void set_engine_spec(const EngineSpec& spec);
    // Marks an image's size on the plot (the selected queue item); 0 tokens removes the mark.
    void set_marker(std::size_t tokens, const QString& label);
    bool is_busy() const { return watcher_.isRunning(); }

public slots:
    void compute();

signals:
    void computed(bool ok);

protected:
    void showEvent(QShowEvent* event) override;  // the first showing computes

private:
    struct Outcome {
        Status status;
        MemorySweep sweep;
        ModelConfig config;
    };
    void show_outcome(const Outcome& outcome);
    QString summary(const MemorySweep& sweep) const;
    void update_marker();

    EngineSpec spec_;
    EngineSpec computed_spec_;
    bool has_result_ = false;
    std::size_t marker_tokens_ = 0;
    QString marker_label_;
    QLineSeries* marker_ = nullptr;  // owned by the chart
    QChart* chart_;
    QChartView* view_;
    QLabel* header_;
    QLabel* summary_;
    QCheckBox* measure_;
    QPushButton* compute_button_;
    QFutureWatcher<Outcome> watcher_;
    std::atomic<bool> abort_{false};
};

}  // namespace nalasr::gui
