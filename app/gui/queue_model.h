// The list of images to upscale: one row per input file, with its thumbnail, size, state and result.
#pragma once

#include <QAbstractListModel>
#include <QImage>
#include <QSet>
#include <vector>

#include "job.h"

namespace nalasr::gui {

struct QueueItem {
    quint64 id = 0;
    QString input;        // absolute path
    QImage thumbnail;     // null until loaded
    QString image_info;   // "1920×1080 · RGB 8-bit", empty until loaded
    JobState state = JobState::Queued;
    double progress = 0;  // of the running image
    QString stage;        // of the running image
    JobResult result;     // valid once finished
};

class QueueModel : public QAbstractListModel {
    Q_OBJECT
public:
    static constexpr int IdRole = Qt::UserRole + 1;  // the item's id (quint64)

    explicit QueueModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;

    // Adds a file unless it is already queued; returns its new id, or 0 when it was a duplicate.
    quint64 add(const QString& path);
    void remove_rows(int first, int count);

    const QueueItem* item(quint64 id) const;
    const QueueItem& at(int row) const { return items_[std::size_t(row)]; }
    int row_of(quint64 id) const;  // -1 when unknown

    // What still needs running: queued, failed and cancelled items, in queue order.
    std::vector<Job> pending_jobs() const;

    void set_image_info(quint64 id, const QImage& thumbnail, const QString& info);
    void set_load_error(quint64 id, const QString& message);
    void set_running(quint64 id);
    void set_progress(quint64 id, double fraction, const QString& stage);
    void set_result(const JobResult& result);
    // Items left Running by a batch that stopped early go back to Queued.
    void reset_running();

private:
    QueueItem* find(quint64 id);
    void changed(quint64 id);
    QString status_line(const QueueItem& item) const;

    std::vector<QueueItem> items_;
    QSet<QString> inputs_;  // the items' paths, for the duplicate check of large drops
    quint64 next_id_ = 1;
};

}  // namespace nalasr::gui
