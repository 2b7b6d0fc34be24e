#include "queue_model.h"

#include <QBrush>
#include <QFileInfo>
#include <QPalette>

#include "format_text.h"

namespace nalasr::gui {

QueueModel::QueueModel(QObject* parent) : QAbstractListModel(parent) {}

int QueueModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(items_.size());
}

QString QueueModel::status_line(const QueueItem& item) const {
    const JobResult& r = item.result;
    switch (item.state) {
        case JobState::Queued: return QStringLiteral("Queued");
        case JobState::Running:
            return QStringLiteral("Running: %1 %2 %").arg(item.stage).arg(qRound(item.progress * 100));
        case JobState::Done: {
            QString line = QStringLiteral("Done in %1 · %2 tokens · peak %3")
                               .arg(format_duration(r.seconds), format_count(r.stats.tokens),
                                    format_bytes(r.stats.observed_peak_bytes));
            // e.g. the GPU's half-precision result was redone in float32 on the CPU (the tooltip has the sentence)
            if (!r.stats.warnings.empty()) line += QStringLiteral(" · Warning: ") + join_warnings(r.stats.warnings);
            return line;
        }
        case JobState::Failed: return QStringLiteral("Error: ") + r.message;
        case JobState::Skipped: return QStringLiteral("Skipped: ") + r.message;
        case JobState::Cancelled: return QStringLiteral("Cancelled");
    }
    return {};
}

QVariant QueueModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= int(items_.size())) return {};
    const QueueItem& item = items_[std::size_t(index.row())];
    switch (role) {
        case Qt::DisplayRole: {
            QString text = QFileInfo(item.input).fileName();
            if (!item.image_info.isEmpty()) text += QStringLiteral("  ·  ") + item.image_info;
            return text + QLatin1Char('\n') + status_line(item);
        }
        case Qt::DecorationRole: return item.thumbnail;
        case Qt::ToolTipRole: {
            QString tip = item.input;
            if (!item.result.output.isEmpty()) tip += QStringLiteral("\n→ ") + item.result.output;
            if (!item.result.message.isEmpty()) tip += QLatin1Char('\n') + item.result.message;
            for (const std::string& warning : item.result.stats.warnings)
                tip += QStringLiteral("\nWarning: ") + QString::fromStdString(warning);
            if (item.state == JobState::Done)
                tip += QStringLiteral("\n%1 · host peak RSS %2")
                           .arg(QString::fromStdString(item.result.stats.backend),
                                format_bytes(item.result.stats.peak_host_rss_bytes));
            return tip;
        }
        case Qt::ForegroundRole:
            if (item.state == JobState::Failed) return QBrush(QColor(0xc0, 0x20, 0x20));
            return {};
        case IdRole: return item.id;
    }
    return {};
}

quint64 QueueModel::add(const QString& path) {
    const QString absolute = QFileInfo(path).absoluteFilePath();
    if (inputs_.contains(absolute)) return 0;
    inputs_.insert(absolute);
    const int row = int(items_.size());
    beginInsertRows({}, row, row);
    QueueItem item;
    item.id = next_id_++;
    item.input = absolute;
    items_.push_back(std::move(item));
    endInsertRows();
    return items_.back().id;
}

void QueueModel::remove_rows(int first, int count) {
    if (first < 0 || count <= 0 || first + count > int(items_.size())) return;
    beginRemoveRows({}, first, first + count - 1);
    for (int row = first; row < first + count; ++row) inputs_.remove(items_[std::size_t(row)].input);
    items_.erase(items_.begin() + first, items_.begin() + first + count);
    endRemoveRows();
}

QueueItem* QueueModel::find(quint64 id) {
    const int row = row_of(id);
    return row < 0 ? nullptr : &items_[std::size_t(row)];
}

const QueueItem* QueueModel::item(quint64 id) const {
    const int row = row_of(id);
    return row < 0 ? nullptr : &items_[std::size_t(row)];
}

int QueueModel::row_of(quint64 id) const {
    for (std::size_t i = 0; i < items_.size(); ++i)
        if (items_[i].id == id) return int(i);
    return -1;
}

void QueueModel::changed(quint64 id) {
    const int row = row_of(id);
    if (row >= 0) emit dataChanged(index(row), index(row));
}

std::vector<Job> QueueModel::pending_jobs() const {
    std::vector<Job> jobs;
    for (const QueueItem& item : items_) {
        if (item.state == JobState::Queued || item.state == JobState::Failed || item.state == JobState::Cancelled)
            jobs.push_back({item.id, item.input});
    }
    return jobs;
}

void QueueModel::set_image_info(quint64 id, const QImage& thumbnail, const QString& info) {
    if (QueueItem* item = find(id)) {
        item->thumbnail = thumbnail;
        item->image_info = info;
        changed(id);
    }
}

void QueueModel::set_load_error(quint64 id, const QString& message) {
    if (QueueItem* item = find(id)) {
        item->state = JobState::Failed;
        item->result = JobResult();
        item->result.id = id;
        item->result.message = message;
        changed(id);
    }
}

void QueueModel::set_running(quint64 id) {
    if (QueueItem* item = find(id)) {
        item->state = JobState::Running;
        item->progress = 0;
        item->stage.clear();
        item->result = JobResult();
        changed(id);
    }
}

void QueueModel::set_progress(quint64 id, double fraction, const QString& stage) {
    if (QueueItem* item = find(id)) {
        item->progress = fraction;
        item->stage = stage;
        changed(id);
    }
}

void QueueModel::set_result(const JobResult& result) {
    if (QueueItem* item = find(result.id)) {
        item->state = result.state;
        item->result = result;
        changed(result.id);
    }
}

void QueueModel::reset_running() {
    for (QueueItem& item : items_) {
        if (item.state != JobState::Running) continue;
        item.state = JobState::Queued;
        changed(item.id);
    }
}

}  // namespace nalasr::gui
