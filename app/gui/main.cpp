// nalasr-gui: the desktop front end. Files and folders given on the command line are queued at start.
#include <QApplication>
#include <QCommandLineParser>
#include <QSettings>

#include "main_window.h"
#include "nalasr/engine.h"

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("NalaSR"));
    QApplication::setApplicationName(QStringLiteral("nalasr-gui"));
    QApplication::setApplicationVersion(QString::fromStdString(nalasr::version_string()));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("NalaSR super-resolution, whole image in one pass"));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(QStringLiteral("images"), QStringLiteral("Images or folders to queue"),
                                 QStringLiteral("[images...]"));
    parser.process(app);

    QSettings settings;
    nalasr::gui::MainWindow window(settings);
    window.show();
    if (!parser.positionalArguments().isEmpty()) window.add_paths(parser.positionalArguments());
    return app.exec();
}
