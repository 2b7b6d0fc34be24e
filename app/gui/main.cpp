// nalasr-gui: the desktop front end. Files and folders given on the command line are queued at start.
#include <QApplication>
#include <QCommandLineParser>
#include <QSettings>
#include <cstring>

#include "main_window.h"
#include "nalasr/engine.h"

namespace {

void describe_arguments(QCommandLineParser& parser) {
    parser.setApplicationDescription(QStringLiteral("NalaSR super-resolution, whole image in one pass"));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(QStringLiteral("images"), QStringLiteral("Images or folders to queue"),
                                 QStringLiteral("[images...]"));
}

void name_application() {
    QCoreApplication::setOrganizationName(QStringLiteral("NalaSR"));
    QCoreApplication::setApplicationName(QStringLiteral("nalasr-gui"));
    QCoreApplication::setApplicationVersion(QString::fromStdString(nalasr::version_string()));
}

// --help and --version print and exit; they must work without a display, so no QApplication for them.
bool only_prints(int argc, char** argv) {
    for (int i = 1; i < argc; ++i)
        for (const char* flag : {"-h", "--help", "--help-all", "-v", "--version"})
            if (std::strcmp(argv[i], flag) == 0) return true;
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    if (only_prints(argc, argv)) {
        QCoreApplication app(argc, argv);
        name_application();
        QCommandLineParser parser;
        describe_arguments(parser);
        parser.process(app);  // exits
    }
    QApplication app(argc, argv);
    name_application();
    QCommandLineParser parser;
    describe_arguments(parser);
    parser.process(app);

    QSettings settings;
    nalasr::gui::MainWindow window(settings);
    window.show();
    if (!parser.positionalArguments().isEmpty()) window.add_paths(parser.positionalArguments());
    return app.exec();
}
