import ArgumentParser
import Foundation
import UNetCheckpoint
import UNetFormats

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two checkpoints of any formats and layouts through their canonical keys.",
        discussion: """
            Per tensor: largest absolute and relative difference, cosine similarity and the share of \
            elements that changed; tensors on one side only; shape and dtype differences; architecture, \
            metadata and num_batches_tracked differences. Two values are equal when \
            |a - b| <= atol + rtol * |b| (NaN equals NaN). Exit 0 when equal, 1 when they differ, \
            2 when a file cannot be read, 64 on bad usage. docs/cli.md defines every number.
            """)

    @Argument(help: "The first checkpoint (A).")
    var a: String

    @Argument(help: "The second checkpoint (B), the reference of the relative difference.")
    var b: String

    @Option(help: "Absolute tolerance: values closer than atol + rtol·|b| are equal.")
    var atol = 0.0

    @Option(help: "Relative tolerance (relative to B's value).")
    var rtol = 0.0

    @Flag(help: "Tensors stored in another dtype but equal within the tolerance do not make the files differ.")
    var ignoreDtype = false

    @Flag(help: "Also compare the provenance metadata (source, writer) a conversion always changes.")
    var allMetadata = false

    @OptionGroup var reading: ReadingOptions

    @Option(name: .customLong("map-a"), help: "A mapping file for A only.")
    var mapA: String?

    @Option(name: .customLong("map-b"), help: "A mapping file for B only.")
    var mapB: String?

    @Option(help: "At most this many rows in the table of changed tensors (0: all).")
    var limit = 20

    @Flag(help: "Print one JSON document instead of text.")
    var json = false

    @OptionGroup var options: CommonOptions

    func validate() throws {
        for (flag, value) in [("--atol", atol), ("--rtol", rtol)] where !(value.isFinite && value >= 0) {
            throw ValidationError("\(flag) must be a finite number >= 0")
        }
        if limit < 0 { throw ValidationError("--limit must be >= 0") }
    }

    func run() throws {
        var document: DiffDocument!
        // Any failure to read either file is exit 2: exit 1 means "they differ".
        try reportingErrors(options, while: .comparing) {
            let sideA = try DiffDocument.Side(path: a, mapping: mapA ?? reading.map, weights: reading.weights)
            let sideB = try DiffDocument.Side(path: b, mapping: mapB ?? reading.map, weights: reading.weights)
            let comparison = try CheckpointComparison(
                sideA.contents, sideB.contents,
                options: ComparisonOptions(
                    absoluteTolerance: atol, relativeTolerance: rtol, ignoreDType: ignoreDtype,
                    allMetadata: allMetadata))
            document = DiffDocument(a: sideA, b: sideB, comparison: comparison)
        }
        if json {
            try JSONOutput.print(document)
        } else {
            print(DiffText(document, limit: limit).render())
        }
        if !document.comparison.equal { throw ExitStatus.differ }
    }
}

/// The two files and their comparison: the `diff --json` document (docs/cli.md).
struct DiffDocument: Encodable {
    struct Side: Encodable {
        let file: String
        let format: String
        let layout: String
        let notes: [String]
        let contents: CheckpointContents

        init(path: String, mapping: String?, weights: WeightsChoice?) throws {
            let read = try CheckpointImporter.readContents(
                path, mapping: try mapping.map { try MappingFile(path: $0) }, weights: weights)
            file = path
            format = read.format.rawValue
            layout = read.layout
            notes = read.contents.notes
            contents = read.contents
        }

        enum CodingKeys: String, CodingKey { case file, format, layout, notes }
    }

    let a: Side
    let b: Side
    let comparison: CheckpointComparison

    enum CodingKeys: String, CodingKey { case a, b }

    /// The comparison's fields with `a` and `b` beside them, in one object.
    func encode(to encoder: any Encoder) throws {
        try comparison.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(a, forKey: .a)
        try c.encode(b, forKey: .b)
    }
}

/// The human rendering of a comparison: the verdict and counts first, then the table of
/// changed tensors, then what is on one side only, shape, architecture and metadata differences.
struct DiffText {
    let document: DiffDocument
    let limit: Int
    private var comparison: CheckpointComparison { document.comparison }

    init(_ document: DiffDocument, limit: Int) {
        self.document = document
        self.limit = limit
    }

    func render() -> String {
        [summary(), table(), onlyIn(), shapes(), fields(), counters(), notes()].filter { !$0.isEmpty }
            .joined(separator: "\n\n")
    }

    private func summary() -> String {
        let c = comparison
        let o = c.options
        let tolerance = "atol \(Format.number(o.absoluteTolerance)), rtol \(Format.number(o.relativeTolerance))"
        var lines = [
            "A: \(document.a.file) (\(document.a.format), layout \(document.a.layout))",
            "B: \(document.b.file) (\(document.b.format), layout \(document.b.layout))",
        ]
        let verdict: String
        if c.equal {
            verdict = c.tensors.allSatisfy(\.valuesIdentical) ? "EQUAL: identical values" : "EQUAL within \(tolerance)"
        } else if c.valuesEqual && c.architecture.isEmpty && c.metadata.isEmpty && c.normCounters.isEmpty {
            verdict = "DIFFERENT in dtype only: values equal within \(tolerance) (--ignore-dtype accepts this)"
        } else {
            verdict = "DIFFERENT (\(tolerance))"
        }
        lines.append(verdict)
        let identical = c.tensors.count(where: \.valuesIdentical)
        lines.append(
            "  tensors: \(c.tensors.count) compared, \(identical) identical, \(c.changedTensors.count) changed, "
                + "\(c.dtypeDifferences.count) in another dtype; \(c.onlyInA.count) only in A, "
                + "\(c.onlyInB.count) only in B, \(c.shapeMismatches.count) shape mismatches")
        if let worst = c.largestChange {
            lines.append(
                "  largest change: \(worst.key) (max abs \(Format.number(worst.maxAbs)), "
                    + "cosine \(cosine(worst.cosine)), \(changed(worst)) changed)")
        }
        if !c.changedTensors.isEmpty {
            let names = c.changedTensors.prefix(8).map(\.key).joined(separator: ", ")
            lines.append("  changed: \(names)\(c.changedTensors.count > 8 ? ", …" : "")")
        }
        let architecture =
            switch c.architectureKnown {
            case (true, true): c.architecture.isEmpty ? "same" : "\(c.architecture.count) field(s) differ"
            case (false, false): "unknown on both sides"
            case (false, true): "unknown for A"
            case (true, false): "unknown for B"
            }
        var metadata = c.metadata.isEmpty ? "same" : "\(c.metadata.count) field(s) differ"
        if !c.ignoredMetadata.isEmpty {
            metadata += " (\(c.ignoredMetadata.count) provenance field(s) differ, not compared: --all-metadata)"
        }
        lines.append("  architecture: \(architecture); metadata: \(metadata)")
        if !c.normCounters.isEmpty { lines.append("  num_batches_tracked: \(c.normCounters.count) differ") }
        return lines.joined(separator: "\n")
    }

    private func table() -> String {
        let rows = comparison.tensors.filter { !$0.valuesIdentical || $0.dtypeDiffers }
        guard !rows.isEmpty else { return "" }
        var table = TextTable([
            .init("key"), .init("shape"), .init("dtype A"), .init("dtype B"), .init("max abs", .right),
            .init("max rel", .right), .init("cosine", .right), .init("changed", .right),
        ])
        let shown = limit == 0 ? rows[...] : rows.prefix(limit)
        for row in shown {
            table.append([
                row.key, Format.shape(row.shape), row.dtypeA.rawValue, row.dtypeB.rawValue, Format.number(row.maxAbs),
                Format.number(row.maxRel), cosine(row.cosine),
                changed(row) + (row.nonFinite > 0 ? " (non-finite)" : ""),
            ])
        }
        var text = "Tensors that differ, largest change first\n" + table.render(indent: 2)
        if shown.count < rows.count { text += "\n  … and \(rows.count - shown.count) more (--limit 0 shows all)" }
        return text
    }

    private func onlyIn() -> String {
        [("A", comparison.onlyInA), ("B", comparison.onlyInB)].compactMap { side, entries in
            guard !entries.isEmpty else { return nil }
            var table = TextTable([.init("key"), .init("shape"), .init("dtype")])
            for entry in entries { table.append([entry.key, Format.shape(entry.shape), entry.dtype.rawValue]) }
            return "Only in \(side)\n" + table.render(indent: 2)
        }.joined(separator: "\n\n")
    }

    private func shapes() -> String {
        guard !comparison.shapeMismatches.isEmpty else { return "" }
        var table = TextTable([.init("key"), .init("shape A"), .init("shape B")])
        for m in comparison.shapeMismatches { table.append([m.key, Format.shape(m.shapeA), Format.shape(m.shapeB)]) }
        return "Shape mismatches\n" + table.render(indent: 2)
    }

    private func fields() -> String {
        let sections = [
            ("Architecture", comparison.architecture), ("Metadata", comparison.metadata),
            ("Metadata not compared (provenance)", comparison.ignoredMetadata),
        ]
        return sections.compactMap { title, differences in
            guard !differences.isEmpty else { return nil }
            let lines = differences.map {
                "  \($0.field): \($0.a?.compactText ?? "(absent)") → \($0.b?.compactText ?? "(absent)")"
            }
            return ([title] + lines).joined(separator: "\n")
        }.joined(separator: "\n\n")
    }

    private func counters() -> String {
        guard !comparison.normCounters.isEmpty else { return "" }
        return (["num_batches_tracked"] + comparison.normCounters.map { "  \($0.layer): \($0.a) → \($0.b)" })
            .joined(separator: "\n")
    }

    private func notes() -> String {
        let lines = document.a.notes.map { "  A: \($0)" } + document.b.notes.map { "  B: \($0)" }
        return lines.isEmpty ? "" : (["Notes"] + lines).joined(separator: "\n")
    }

    private func cosine(_ value: Double?) -> String { value.map { String(format: "%.6f", $0) } ?? "–" }

    private func changed(_ row: TensorDifference) -> String {
        row.changed == 0 ? "0" : String(format: "%.1f%% (%d)", row.changedFraction * 100, row.changed)
    }
}
