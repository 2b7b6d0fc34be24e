// The user's choices that outlive a session, kept in QSettings.
#pragma once

#include <QByteArray>
#include <QSettings>

#include "engine_setup.h"
#include "output_naming.h"

namespace nalasr::gui {

// How the "before" side of the compare view enlarges the input to the output's size.
enum class BeforeResampler { Nearest, Bicubic };

struct AppSettings {
    EngineSpec engine;       // model and device
    OutputOptions output;    // folder, format, overwrite policy, bit depth
    BeforeResampler before = BeforeResampler::Bicubic;
    QString last_open_folder;
    QByteArray window_geometry;
    QByteArray window_state;

    static AppSettings load(const QSettings& settings);
    void save(QSettings& settings) const;
};

}  // namespace nalasr::gui
