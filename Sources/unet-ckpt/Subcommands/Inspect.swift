import ArgumentParser
import Foundation
import UNetCheckpoint
import UNetDrawing
import UNetFormats

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Summarise a checkpoint: architecture, stages, tensors, sizes and metadata.",
        discussion: """
            Without --stats no tensor data is read. --json prints the document described in docs/cli.md. \
            --plot OUT.svg draws one histogram per tensor (\(TensorHistogram.defaultBinCount) bins over \
            each tensor's own range) and implies --stats.
            """)

    @Argument(help: "The checkpoint file.")
    var file: String

    @Flag(help: "Read every tensor: add min, max, mean, std and NaN/Inf counts, and check checksums.")
    var stats = false

    @Option(help: "Also write an SVG figure of every tensor's value distribution (implies --stats).")
    var plot: String?

    @Flag(help: "Print one JSON document instead of text.")
    var json = false

    @OptionGroup var reading: ReadingOptions

    @OptionGroup var options: CommonOptions

    private var statistics: Bool { stats || plot != nil }

    /// Our own files are described without reading tensor data (unless statistics are asked
    /// for); others are read and converted. With --plot, also the tensors in canonical order.
    private func summarise() throws -> (CheckpointSummary, tensors: [(key: String, tensor: Tensor)]) {
        let format = try CheckpointFormat.detect(ModelFolder.weightsFile(file))
        if format == .unetH5 {
            let checkpoint = try CheckpointFile(path: file)
            let summary = try CheckpointSummary(checkpoint, statistics: statistics)
            guard plot != nil else { return (summary, []) }
            // Checksums are reported in the table; a mismatching tensor is still plotted.
            let tensors = try checkpoint.tensors.map { ($0.key, try checkpoint.tensor($0.key, verifyChecksum: false)) }
            return (summary, tensors)
        }
        let imported = try CheckpointImporter.read(
            file, format: format, mapping: try reading.mapping(), weights: reading.weights)
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        var summary = CheckpointSummary(
            imported.checkpoint, file: file, format: "\(format.rawValue), layout \(imported.layout)", storedBytes: size,
            statistics: statistics)
        summary.warnings = imported.notes
        let tensors = plot == nil ? [] : imported.checkpoint.orderedTensors.map { ($0.spec.key, $0.tensor) }
        return (summary, tensors)
    }

    func run() throws {
        try reportingErrors(options) {
            let summarised: (CheckpointSummary, tensors: [(key: String, tensor: Tensor)])
            do {
                summarised = try summarise()
            } catch let error as FormatError where error.kind == .unsupported {
                // No layout describes the keys: the tensors are still shown under their own keys.
                guard let raw = try? CheckpointImporter.readRaw(file, reason: error.message) else { throw error }
                if json { try JSONOutput.print(raw) } else { print(RawSummaryText(raw).render()) }
                printWarning("the file was not read as a network, so only its tensors are shown (the reason is above)")
                return
            }
            let (summary, tensors) = summarised
            if json {
                try JSONOutput.print(summary)
            } else {
                print(SummaryText(summary, statistics: statistics).render())
                for warning in summary.warnings { printWarning(warning) }
            }
            if let plot {
                let name = URL(fileURLWithPath: file).lastPathComponent
                let figure = HistogramFigure(
                    tensors.map { TensorHistogram(key: $0.key, tensor: $0.tensor) },
                    title: "Weight distributions: \(name)")
                try writeOutputFile(Data(figure.render().utf8), to: plot, options: options)
                printNote("wrote \(plot) (\(tensors.count) histograms)")
            }
            if statistics, summary.tensors.contains(where: { $0.checksum == "mismatch" }) {
                throw CheckpointError(
                    .checksumMismatch, file: file, "some tensors do not match their checksum (see the table)")
            }
        }
    }
}

/// The human rendering of a ``CheckpointSummary``.
struct SummaryText {
    let summary: CheckpointSummary
    let statistics: Bool

    init(_ summary: CheckpointSummary, statistics: Bool) {
        self.summary = summary
        self.statistics = statistics
    }

    func render() -> String {
        [header(), architecture(), levels(), totals(), tensors(), metadata()].filter { !$0.isEmpty }
            .joined(separator: "\n\n")
    }

    private func header() -> String {
        let version = summary.schemaVersion.map { ", schema \($0)" } ?? ""
        let migrated = summary.migrations.map { "\nread through the migration: \($0)" }.joined()
        return "\(summary.file)\nformat: \(summary.format)\(version)\(migrated)"
    }

    private func architecture() -> String {
        var lines = ["Architecture"] + summary.architecture.descriptionLines.map { "  " + $0 }
        let sizes = summary.sizes
        let names = sizes.minimumInput.count == 3 ? ["depth", "height", "width"] : ["height", "width"]
        var axes: [(name: String, rule: String)] = []
        for (axis, name) in names.enumerated() {
            guard let minimum = sizes.minimumInput[axis] else { continue }
            var text: String
            if let step = sizes.inputStep[axis] {
                text = "\(minimum), \(minimum + step), \(minimum + 2 * step), … (every \(step))"
            } else {
                text = "any from \(minimum)"
            }
            if let input = sizes.exampleInput[axis], let output = sizes.exampleOutput[axis] {
                text += "; \(input) → \(output)"
            }
            axes.append((name, text))
        }
        // Axes with the same rule are told once.
        if Set(axes.map(\.rule)).count == 1, let rule = axes.first?.rule {
            lines.append("  input sides: \(rule)")
        } else if !axes.isEmpty {
            lines.append("  input sides: " + axes.map { "\($0.name) \($0.rule)" }.joined(separator: "; "))
        }
        return lines.joined(separator: "\n")
    }

    private func levels() -> String {
        var table = TextTable([
            .init("stage"), .init("level", .right), .init("channels"), .init("params", .right),
        ])
        for stage in summary.stages {
            table.append([
                stage.name, "\(stage.level)", "\(stage.inChannels) → \(stage.outChannels)",
                Format.count(stage.parameters),
            ])
        }
        return "Stages\n" + table.render(indent: 2)
    }

    private func totals() -> String {
        let t = summary.totals
        let dtypes = t.dtypes.keys.sorted().map { "\($0) ×\(t.dtypes[$0]!)" }.joined(separator: ", ")
        return """
            Totals
              \(Format.count(t.parameters)) parameters in \(t.tensors) tensors (\(dtypes))
              \(Format.bytes(t.bytes)) of data, \(Format.bytes(t.storedBytes)) stored
            """
    }

    private func tensors() -> String {
        var columns: [TextTable.Column] = [
            .init("key"), .init("shape"), .init("dtype"), .init("layout"), .init("params", .right),
            .init("size", .right), .init("storage"), .init("crc32"), .init("checksum"),
        ]
        if statistics {
            columns += [
                .init("min", .right), .init("max", .right), .init("mean", .right), .init("std", .right),
                .init("nan", .right), .init("inf", .right),
            ]
        }
        var table = TextTable(columns)
        for row in summary.tensors {
            var cells = [
                row.key, Format.shape(row.shape), row.dtype, row.layout, Format.count(row.parameters),
                Format.bytes(row.bytes), row.storage, row.crc32, row.checksum,
            ]
            if let s = row.statistics {
                cells += [
                    Format.number(s.min), Format.number(s.max), Format.number(s.mean), Format.number(s.std),
                    "\(s.nanCount)", "\(s.infinityCount)",
                ]
            }
            table.append(cells)
        }
        return "Tensors\n" + table.render(indent: 2)
    }

    private func metadata() -> String {
        let m = summary.metadata
        var lines: [String] = []
        func add(_ label: String, _ value: String?) {
            if let value, !value.isEmpty { lines.append("  \(label): \(value)") }
        }
        add("classes", m.classes?.joined(separator: ", "))
        add("mask values", m.maskValues?.compactText)
        if let input = m.input {
            var parts: [String] = []
            if let scale = input.scale { parts.append("scale \(Format.number(scale))") }
            if let mean = input.mean { parts.append("mean \(mean.map { Format.number($0) }.joined(separator: ", "))") }
            if let std = input.std { parts.append("std \(std.map { Format.number($0) }.joined(separator: ", "))") }
            if let color = input.color { parts.append(color) }
            add("input", parts.joined(separator: "; "))
        }
        if let t = m.training {
            let parts: [String?] = [
                t.optimizer, t.learningRate.map { "lr \($0)" }, t.momentum.map { "momentum \($0)" },
                t.batchSize.map { "batch \($0)" }, t.tileSize.map { "tile \($0)" }, t.epochs.map { "\($0) epochs" },
                t.loss,
            ]
            add("training", parts.compactMap { $0 }.joined(separator: ", "))
        }
        if let s = m.source {
            let parts: [String?] = [
                s.format, s.layout.map { "layout \($0)" }, s.fileName, s.sha256.map { "sha256 \($0)" },
            ]
            add("source", parts.compactMap { $0 }.joined(separator: ", "))
            let library = [s.library, s.version, s.className].compactMap { $0 }
            add("library", library.joined(separator: " "))
            add("container", s.container)
            for assumption in s.assumptions ?? [] { add("assumed", assumption) }
        }
        if let w = m.writer { add("written by", "\(w.tool) \(w.version)" + (w.writtenAt.map { " at \($0)" } ?? "")) }
        for (key, value) in (m.user ?? [:]).sorted(by: { $0.key < $1.key }) { add("user \(key)", value) }
        for (key, value) in m.additionalFields.sorted(by: { $0.key < $1.key }) {
            if key == "nnunet", case .object(let fields) = value {
                // The plans and dataset.json are kept whole; the settings a user looks for are shown.
                let shown = [
                    "configuration", "patch_size", "spacing", "normalization_schemes", "channel_names", "trainer_name",
                    "fold", "inference_allowed_mirroring_axes",
                ]
                for field in shown { add("nnunet \(field)", fields[field]?.compactText) }
            } else if key == "keras", case .object(let fields) = value,
                case .object(let model)? = fields["model_config"], case .object(let config)? = model["config"],
                case .array(let layers)? = config["layers"]
            {
                // The model config is kept whole for the Keras export; a summary is what a user looks for.
                let name = [model["class_name"], config["name"]].compactMap { $0?.compactText }
                add("keras model_config", "\(name.joined(separator: " ")), \(layers.count) layers")
            } else {
                add(key, value.compactText)
            }
        }
        if !summary.normCounters.isEmpty {
            let values = Set(summary.normCounters.values).sorted().map(String.init).joined(separator: ", ")
            add("num_batches_tracked", "\(values) (\(summary.normCounters.count) batch norm layers)")
        }
        if let probe = summary.probe {
            add(
                "probe",
                "\(Format.shape(probe.inputShape)) → \(Format.shape(probe.outputShape)), rtol \(probe.rtol), atol \(probe.atol)"
            )
        }
        return lines.isEmpty ? "Metadata\n  (none)" : "Metadata\n" + lines.joined(separator: "\n")
    }
}

/// The rendering of a file not read as a network (no layout describes it, or its layout refused it): its tensors under their own keys.
struct RawSummaryText {
    let raw: RawCheckpoint

    init(_ raw: RawCheckpoint) { self.raw = raw }

    func render() -> String {
        var sections = ["\(raw.file)\nformat: \(raw.format.rawValue), not read as a network\n\(raw.reason)"]
        var groups = TextTable([.init("keys"), .init("tensors", .right), .init("params", .right)])
        for group in raw.groups() {
            groups.append([group.prefix, String(group.tensorCount), Format.count(group.parameterCount)])
        }
        sections.append("Key groups\n" + groups.render(indent: 2))
        let bytes = raw.tensors.reduce(0) { $0 + $1.byteCount }
        let dtypes = Dictionary(grouping: raw.tensors, by: \.dtype).map { "\($0.key) ×\($0.value.count)" }.sorted()
        sections.append(
            "Totals\n  \(Format.count(raw.parameterCount)) parameters in \(raw.tensors.count) tensors "
                + "(\(dtypes.joined(separator: ", "))), \(Format.bytes(bytes))"
                + (raw.integers.isEmpty ? "" : "; \(raw.integers.count) integer entries"))
        var table = TextTable([
            .init("key"), .init("shape"), .init("dtype"), .init("params", .right), .init("size", .right),
        ])
        for entry in raw.tensors {
            table.append([
                entry.key, Format.shape(entry.shape), entry.dtype, Format.count(entry.parameterCount),
                Format.bytes(entry.byteCount),
            ])
        }
        sections.append("Tensors\n" + table.render(indent: 2))
        let others =
            raw.entries.sorted { $0.key < $1.key }.map { "  \($0.key): \($0.value)" }
            + raw.skipped.map { "  skipped \($0)" }
        if !others.isEmpty { sections.append("Other entries\n" + others.joined(separator: "\n")) }
        return sections.joined(separator: "\n\n")
    }
}
