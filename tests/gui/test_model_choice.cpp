// The model choice of the controls panel: the built-in models listed per scale, the scale picking its built-in
// model (a file found on disk when none is built in), files from the model folders and settings round trips.
// Only nalasr_nala_x4 is assumed to be built in; the other checks follow whatever builtin_models() lists.
#include <QComboBox>
#include <QDir>
#include <QSettings>
#include <QStandardItemModel>
#include <QTemporaryDir>
#include <QTest>
#include <algorithm>

#include "app_settings.h"
#include "controls_panel.h"
#include "gui_test_support.h"
#include "path_util.h"

using namespace nalasr;
using namespace nalasr::gui;

namespace {

// Points $NALASR_MODELS_DIR at a folder for the life of the object (the panel reads it whenever it lists models).
class ModelsDirOverride {
public:
    explicit ModelsDirOverride(const QString& folder) { qputenv("NALASR_MODELS_DIR", folder.toUtf8()); }
    ~ModelsDirOverride() { qunsetenv("NALASR_MODELS_DIR"); }
};

QStringList item_labels(const QComboBox* combo) {
    QStringList labels;
    for (int i = 0; i < combo->count(); ++i) labels << combo->itemText(i);
    return labels;
}

void activate(QComboBox* combo, int index) {
    combo->setCurrentIndex(index);
    emit combo->activated(index);
}

}  // namespace

class ModelChoiceTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void default_is_the_builtin_x4_model();
    void every_builtin_model_is_listed_under_its_scale();
    void scale_picks_its_builtin_model_else_a_found_file();
    void found_file_can_be_chosen();
    void settings_round_trip();
    void load_model_follows_the_spec();

private:
    QComboBox* combo(ControlsPanel& panel, const char* name) {
        return panel.findChild<QComboBox*>(QLatin1String(name));
    }
    QTemporaryDir dir_;
    QString models_;  // a model folder with a file for every scale: nalasr_softmax_x{2,3,4}.safetensors
};

void ModelChoiceTest::initTestCase() {
    QVERIFY(dir_.isValid());
    QVERIFY(QDir().mkpath(dir_.filePath("models")));
    models_ = QDir(dir_.filePath("models")).canonicalPath();
    // Softmax models are never built in (they are NaLa weights), so these are always "found on disk".
    for (int scale : {2, 3, 4}) {
        ModelConfig config = test::tiny_config();
        config.scale = scale;
        config.attention = AttentionKind::Softmax;
        const QString path = models_ + QStringLiteral("/nalasr_softmax_x%1.safetensors").arg(scale);
        QVERIFY(Model::random(config, 5).save_file(to_fs_path(path)).is_ok());
    }
}

void ModelChoiceTest::default_is_the_builtin_x4_model() {
    ControlsPanel panel;
    QComboBox* scale = combo(panel, "scale");
    QComboBox* model = combo(panel, "model");
    QVERIFY(scale && model);
    QCOMPARE(scale->currentData().toInt(), 4);
    QVERIFY2(model->currentText().contains(QStringLiteral("NaLa ×4 (built in")), qPrintable(model->currentText()));
    QVERIFY(model->currentData(Qt::ToolTipRole).toString().contains(QLatin1String(kDefaultModelName)));
    AppSettings stored;
    panel.store(&stored);
    QCOMPARE(stored.engine.model_name, QString::fromLatin1(kDefaultModelName));
    QVERIFY(stored.engine.model_path.isEmpty());
    // The source tree's resources/models holds the built-in files themselves: they are not listed twice.
    const QString default_file = QStringLiteral("%1.safetensors").arg(QLatin1String(kDefaultModelName));
    for (const QString& label : item_labels(model)) QVERIFY2(!label.endsWith(default_file), qPrintable(label));
    QCOMPARE(model->itemText(model->count() - 1), QStringLiteral("Other file…"));
}

void ModelChoiceTest::every_builtin_model_is_listed_under_its_scale() {
    ControlsPanel panel;
    QComboBox* scale = combo(panel, "scale");
    QComboBox* model = combo(panel, "model");
    auto* scale_items = static_cast<QStandardItemModel*>(scale->model());
    for (const BuiltinModelInfo& info : builtin_models()) {
        const int index = scale->findData(info.config.scale);
        QVERIFY(scale_items->item(index)->isEnabled());
        activate(scale, index);
        const int item = model->findData(QString::fromStdString(info.name), Qt::UserRole + 1);
        QVERIFY2(item >= 0, info.name.c_str());
        QVERIFY(model->itemText(item).contains(QStringLiteral("×%1 (built in").arg(info.config.scale)));
        activate(model, item);
        AppSettings stored;
        panel.store(&stored);
        QCOMPARE(stored.engine.model_name, QString::fromStdString(info.name));
        QVERIFY(stored.engine.model_path.isEmpty());
    }
}

// For each scale: its built-in NaLa model when there is one, else the first model of that scale (here a file).
void ModelChoiceTest::scale_picks_its_builtin_model_else_a_found_file() {
    ModelsDirOverride models_dir(models_);
    ControlsPanel panel;
    QComboBox* scale = combo(panel, "scale");
    const std::vector<BuiltinModelInfo> builtins = builtin_models();
    for (int s : {2, 3, 4}) {
        activate(scale, scale->findData(s));
        AppSettings stored;
        panel.store(&stored);
        std::string builtin;
        if (builtin_model_name(s, AttentionKind::Nala, &builtin)) {
            QCOMPARE(stored.engine.model_name, QString::fromStdString(builtin));
            QVERIFY(stored.engine.model_path.isEmpty());
        } else if (std::any_of(builtins.begin(), builtins.end(),
                               [&](const BuiltinModelInfo& m) { return m.config.scale == s; })) {
            QVERIFY(!stored.engine.model_name.isEmpty());
        } else {
            QVERIFY(stored.engine.model_name.isEmpty());
            QCOMPARE(stored.engine.model_path, models_ + QStringLiteral("/nalasr_softmax_x%1.safetensors").arg(s));
        }
    }
}

void ModelChoiceTest::found_file_can_be_chosen() {
    ModelsDirOverride models_dir(models_);
    ControlsPanel panel;
    QComboBox* scale = combo(panel, "scale");
    QComboBox* model = combo(panel, "model");
    activate(scale, scale->findData(2));
    const QString file = models_ + QStringLiteral("/nalasr_softmax_x2.safetensors");
    const int item = model->findData(file);
    QVERIFY2(item >= 0, qPrintable(item_labels(model).join(QStringLiteral(" | "))));
    QCOMPARE(model->itemText(item), QStringLiteral("Softmax ×2 — nalasr_softmax_x2.safetensors"));
    activate(model, item);
    AppSettings stored;
    panel.store(&stored);
    QCOMPARE(stored.engine.model_path, file);
    QVERIFY(stored.engine.model_name.isEmpty());
}

void ModelChoiceTest::settings_round_trip() {
    ModelsDirOverride models_dir(models_);
    ControlsPanel panel;
    QComboBox* scale = combo(panel, "scale");
    AppSettings settings;  // a file's path selects its scale
    settings.engine.model_path = models_ + QStringLiteral("/nalasr_softmax_x3.safetensors");
    panel.load(settings);
    QCOMPARE(scale->currentData().toInt(), 3);
    AppSettings stored;
    panel.store(&stored);
    QCOMPARE(stored.engine.model_path, settings.engine.model_path);

    for (const BuiltinModelInfo& info : builtin_models()) {  // a built-in model's name selects its scale
        settings.engine = {};
        settings.engine.model_name = QString::fromStdString(info.name);
        panel.load(settings);
        QCOMPARE(scale->currentData().toInt(), info.config.scale);
        panel.store(&stored);
        QCOMPARE(stored.engine.model_name, settings.engine.model_name);
        QVERIFY(stored.engine.model_path.isEmpty());
    }
    settings.engine = {};  // nothing chosen yet, or a name this build lacks: the default model
    panel.load(settings);
    QCOMPARE(scale->currentData().toInt(), 4);
    activate(scale, scale->findData(2));
    settings.engine.model_name = QStringLiteral("nalasr_gone_x4");
    panel.load(settings);
    QCOMPARE(scale->currentData().toInt(), 4);
    panel.store(&stored);
    QCOMPARE(stored.engine.model_name, QString::fromLatin1(kDefaultModelName));

    QSettings file(dir_.filePath("choice.ini"), QSettings::IniFormat);
    stored.engine.device = QStringLiteral("cpu");
    stored.save(file);
    QCOMPARE(AppSettings::load(file).engine, stored.engine);
}

void ModelChoiceTest::load_model_follows_the_spec() {
    Model model;
    EngineSpec spec;
    QVERIFY(load_model(spec, &model).is_ok());  // both empty: the default model
    QCOMPARE(QString::fromStdString(model.name()), QString::fromLatin1(kDefaultModelName));
    for (const BuiltinModelInfo& info : builtin_models()) {
        spec.model_name = QString::fromStdString(info.name);
        QVERIFY(load_model(spec, &model).is_ok());
        QCOMPARE(model.config().scale, info.config.scale);
    }
    spec.model_name = QStringLiteral("nalasr_gone_x4");
    const Status st = load_model(spec, &model);
    QVERIFY(!st.is_ok());
    QVERIFY2(st.message().find(kDefaultModelName) != std::string::npos, st.message().c_str());
    spec.model_path = models_ + QStringLiteral("/nalasr_softmax_x2.safetensors");  // a file wins over a name
    QVERIFY(load_model(spec, &model).is_ok());
    QCOMPARE(model.config().attention, AttentionKind::Softmax);
}

QTEST_MAIN(ModelChoiceTest)
#include "test_model_choice.moc"
