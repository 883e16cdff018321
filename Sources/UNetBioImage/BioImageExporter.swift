import Foundation
import UNetCheckpoint
import UNetDrawing
import UNetFormats
import UNetImages
import UNetInference
import UNetONNX

/// Writes a checkpoint as a BioImage Model Zoo model package (model description format 0.5):
/// `rdf.yaml`, the ONNX weights, the probe as test tensors, the drawn U as cover (PNG) and as
/// SVG, a README and, by default, the unet-ckpt checkpoint itself (docs/bioimageio.md).
public enum BioImageExporter {
    /// The model description format written: the one bioimageio.spec 0.5.12 implements.
    public static let formatVersion = "0.5.12"

    /// A package before it is zipped: its files in order (`rdf.yaml` first) and its description.
    public struct Package: Sendable {
        public var files: [(name: String, bytes: Data)]
        public var description: YAMLValue
        /// What was assumed or left out, for the user.
        public var notes: [String]
    }

    /// Writes the package of `checkpoint` to `path` (a `.bioimageio.zip`) atomically.
    /// - Returns: notes for the user.
    @discardableResult
    public static func write(_ checkpoint: Checkpoint, to path: String, options: BioImageExportOptions) throws
        -> [String]
    {
        let package = try package(for: checkpoint, options: options)
        try OutputFile.write(to: path) { output in
            var zip = StoredZipWriter(output: output)
            for (name, bytes) in package.files {
                try bytes.withUnsafeBytes { try zip.add(name, bytes: $0) }
            }
            try zip.finish()
        }
        return package.notes
    }

    /// The files and the description of the package of `checkpoint`.
    public static func package(for checkpoint: Checkpoint, options: BioImageExportOptions) throws -> Package {
        let network = checkpoint.network
        let metadata = checkpoint.metadata
        let kept = metadata.additionalFields["bioimageio"]
        var notes: [String] = []

        // The probe: the checkpoint's (its framework's output, when it has one), else computed here.
        let probe: Probe
        if let stored = checkpoint.probe {
            probe = stored
        } else {
            do {
                probe = try ProbeMaker.probe(for: checkpoint)
            } catch {
                throw BioImageExportError("cannot compute the test tensors: \(error.message)")
            }
            notes.append(
                "the checkpoint has no probe: the test tensors are a seeded input and unet-ckpt's output for it")
        }
        let axes = try PackageAxis.axes(of: network, probe: Array(probe.input.shape.dropFirst(2)))
        let processing = try Processing(network: network, metadata: metadata)
        let testInput = processing.rawInput(probe.input)
        let testOutput = processing.postprocessed(probe.output, network: network)

        // The files, each also named in the description with its SHA-256.
        var files: [(name: String, bytes: Data)] = []
        var digests: [String: String] = [:]
        func add(_ name: String, _ bytes: Data) {
            files.append((name, bytes))
            digests[name] = FileDigest.sha256(bytes: bytes)
        }
        let onnx: Data
        do {
            onnx = try ONNXExporter.serializedModel(for: checkpoint, options: options.onnx)
        } catch let error as ONNXExportError {
            throw BioImageExportError("the ONNX weights cannot be written: \(error.message)")
        }
        add(BioImageNames.onnx, onnx)
        add(BioImageNames.testInput, NumpyArray(shape: probe.input.shape, values: testInput).encoded())
        add(BioImageNames.testOutput, NumpyArray(shape: probe.output.shape, values: testOutput).encoded())
        let drawing = try Drawing(checkpoint)
        add(BioImageNames.cover, drawing.png)
        add(BioImageNames.diagram, Data(drawing.svg.utf8))
        if options.includeCheckpoint {
            add(BioImageNames.checkpoint, try checkpointBytes(checkpoint))
        }

        let text = Texts(checkpoint: checkpoint, options: options, kept: kept)
        let name = try text.name()
        let readme = PackageReadme(
            name: name, checkpoint: checkpoint, axes: axes, processing: processing, drawing: drawing,
            includesCheckpoint: options.includeCheckpoint, opset: options.onnx.opset
        ).text
        add(BioImageNames.readme, Data(readme.utf8))

        func file(_ name: String) -> YAMLValue {
            .map([("source", .string(name)), ("sha256", .string(digests[name]!))])
        }
        let channelAxis = YAMLValue.map([
            ("type", .string("channel")), ("channel_names", .list(processing.inputChannelNames.map(YAMLValue.string))),
        ])
        let inputAxes: [YAMLValue] =
            [.map([("type", .string("batch"))]), channelAxis]
            + axes.map { axis in
                .map([
                    ("type", .string("space")), ("id", .string(axis.id)),
                    ("size", .map([("min", .integer(axis.minimum)), ("step", .integer(axis.step))])),
                ])
            }
        let outputAxes: [YAMLValue] =
            [
                .map([("type", .string("batch"))]),
                .map([
                    ("type", .string("channel")),
                    ("channel_names", .list(processing.outputChannelNames.map(YAMLValue.string))),
                ]),
            ]
            + axes.map { axis in
                .map([
                    ("type", .string("space")), ("id", .string(axis.id)),
                    (
                        "size",
                        .map([
                            ("tensor_id", .string("input")), ("axis_id", .string(axis.id)),
                            ("offset", .integer(axis.offset)),
                        ])
                    ),
                ])
            }
        var input: [(String, YAMLValue)] = [
            ("id", .string("input")), ("description", .string(processing.inputDescription)),
            ("axes", .list(inputAxes)), ("test_tensor", file(BioImageNames.testInput)),
            ("data", .map([("type", .string("float32"))])),
        ]
        if !processing.preprocessing.isEmpty { input.append(("preprocessing", .list(processing.preprocessing))) }
        var output: [(String, YAMLValue)] = [
            ("id", .string("output")), ("description", .string(processing.outputDescription)),
            ("axes", .list(outputAxes)), ("test_tensor", file(BioImageNames.testOutput)),
            ("data", .map([("type", .string("float32"))])),
        ]
        if !processing.postprocessing.isEmpty { output.append(("postprocessing", .list(processing.postprocessing))) }

        var rdf: [(String, YAMLValue)] = [
            ("format_version", .string(formatVersion)), ("type", .string("model")), ("name", .string(name)),
            ("description", .string(text.summary())),
        ]
        let authors = text.authors()
        if authors.isEmpty {
            notes.append("no --author: the BioImage Model Zoo asks for the authors of a model it publishes")
        } else {
            rdf.append(("authors", .list(authors)))
        }
        rdf.append(("cite", .list(text.citations())))
        if let license = text.license() {
            rdf.append(("license", .string(license)))
        } else {
            notes.append("no --license: the BioImage Model Zoo asks for an SPDX licence identifier")
        }
        rdf += [
            ("tags", .list(text.tags().map(YAMLValue.string))),
            ("documentation", file(BioImageNames.readme)),
            ("covers", .list([file(BioImageNames.cover)])),
            (
                "attachments",
                .list(
                    [file(BioImageNames.diagram)]
                        + (options.includeCheckpoint ? [file(BioImageNames.checkpoint)] : []))
            ),
            ("timestamp", .string(Self.timestamp(options.timestamp))),
            ("inputs", .list([.map(input)])),
            ("outputs", .list([.map(output)])),
            (
                "weights",
                .map([
                    (
                        "onnx",
                        .map([
                            ("source", .string(BioImageNames.onnx)), ("sha256", .string(digests[BioImageNames.onnx]!)),
                            ("opset_version", .integer(options.onnx.opset)),
                        ])
                    )
                ])
            ),
            ("config", .map([("unet_ckpt", text.provenance())])),
        ]
        let description = YAMLValue.map(rdf)
        files.insert((BioImageNames.description, Data(description.text.utf8)), at: 0)
        return Package(files: files, description: description, notes: notes)
    }

    /// The checkpoint as a unet-ckpt HDF5 file's bytes.
    private static func checkpointBytes(_ checkpoint: Checkpoint) throws -> Data {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "unet-ckpt-bioimageio-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent(BioImageNames.checkpoint).path
        _ = try checkpoint.write(to: file)
        guard let data = FileManager.default.contents(atPath: file) else {
            throw BioImageExportError("cannot read back the checkpoint written to \(file)")
        }
        return data
    }

    /// ISO 8601 in UTC, to the second.
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}
