// One image's trip through the batch: what goes in, and what came out.
#pragma once

#include <QMetaType>
#include <QString>

#include "nalasr/engine.h"

namespace nalasr::gui {

enum class JobState { Queued, Running, Done, Failed, Skipped, Cancelled };

struct Job {
    quint64 id = 0;  // the queue item's id (stable while rows move)
    QString input;
};

struct JobResult {
    quint64 id = 0;
    JobState state = JobState::Failed;
    QString output;   // the written file (Done), or the existing one (Skipped)
    QString message;  // why it failed or was skipped, or a note on a Done item
    UpscaleStats stats;
    double seconds = 0;  // load + upscale + save, wall clock
};

}  // namespace nalasr::gui

Q_DECLARE_METATYPE(nalasr::gui::JobResult)
