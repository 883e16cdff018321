import Foundation
import TestSupport
import Testing
import UNetCheckpoint
import UNetDrawing
import UNetImages
import UNetInference

@testable import UNetBioImage
@testable import UNetFormats

/// BioImage Model Zoo packages written for every fixture family and read back: the description's
/// fields, the axes against the network's arithmetic, the test tensors against the probe, the
/// weights bit for bit. (That bioimageio.core accepts and runs them is fixtures/check_bioimageio.py's
/// check, in CI.)
@Suite("BioImage Model Zoo packages: written and read back")
struct PackageTests {
    /// One checkpoint per family: the schema 2.0 fixtures and the 1.0 files.
    static let families: [String] =
        ((try? FileManager.default.contentsOfDirectory(atPath: Fixtures.path("schema2"))) ?? [])
        .filter { $0.hasSuffix(".h5") }.sorted().map { "schema2/\($0)" }
        + ["h5py/paper-tiny.h5", "h5py/milesial-bilinear-tiny-f16.h5", "examples/paper-small.h5"]

    static func options() -> BioImageExportOptions {
        var options = BioImageExportOptions()
        options.authors = [.init(name: "Test Author")]
        options.license = "MIT"
        options.timestamp = Date(timeIntervalSince1970: 1_798_761_600)
        return options
    }

    @Test("every fixture family is listed")
    func familiesListed() {
        #expect(Self.families.count >= 16)
    }

    @Test("a package of each family: rdf.yaml, axes, test tensors, files, read back bit for bit", arguments: families)
    func roundTrip(_ family: String) throws {
        let directory = try TemporaryDirectory()
        let source = try CheckpointImporter.read(Fixtures.path(family)).checkpoint
        let path = directory.file("model.bioimageio.zip")
        try BioImageExporter.write(source, to: path, options: Self.options())

        // Read back through the importer: the attached checkpoint, the same tensors and architecture.
        let imported = try CheckpointImporter.read(path)
        #expect(imported.format == .bioimageio)
        #expect(imported.checkpoint.architecture == source.architecture)
        #expect(imported.checkpoint.tensors == source.tensors)
        #expect(imported.checkpoint.metadata.additionalFields["bioimageio"]?["license"] == .string("MIT"))
        #expect(try CheckpointFormat.detect(path) == .bioimageio)

        let package = try BioImagePackage(path: path)
        let rdf = package.description
        #expect(rdf["format_version"] == .string(BioImageExporter.formatVersion))
        #expect(rdf["type"] == .string("model"))
        #expect(rdf["authors"]?.arrayValue?.first?["name"] == .string("Test Author"))
        #expect(rdf["cite"]?.arrayValue?.first?["doi"] == .string("10.1007/978-3-319-24574-4_28"))
        #expect(rdf["timestamp"] == .string("2027-01-01T00:00:00Z"))
        #expect(rdf["weights"]?["onnx"]?["opset_version"] == .number(17))
        #expect(package.weightFormats == ["onnx"])
        // Every named file is in the package with its SHA-256.
        let named = package.namedFiles
        #expect(
            Set(named.map(\.source)).isSuperset(of: [BioImageNames.onnx, BioImageNames.readme, BioImageNames.cover]))
        for file in named {
            #expect(file.sha256 != nil)
            _ = try package.bytes(of: file.source, sha256: file.sha256)
        }

        // Axes: min + n·step valid for the network, the output side the input side plus the offset.
        let network = source.network
        let input = try #require(rdf["inputs"]?.arrayValue?.first)
        let output = try #require(rdf["outputs"]?.arrayValue?.first)
        let inputAxes = try #require(input["axes"]?.arrayValue)
        let outputAxes = try #require(output["axes"]?.arrayValue)
        #expect(inputAxes.count == 2 + network.architecture.spatialDims)
        #expect(inputAxes[0]["type"] == .string("batch") && inputAxes[1]["type"] == .string("channel"))
        #expect(inputAxes[1]["channel_names"]?.arrayValue?.count == network.architecture.inChannels)
        #expect(outputAxes[1]["channel_names"]?.arrayValue?.count == network.outputChannels)
        var probeSides: [Int] = []
        for axis in 0..<network.architecture.spatialDims {
            let size = try #require(inputAxes[2 + axis]["size"])
            let minimum = try #require(size["min"]?.integerValue)
            let step = try #require(size["step"]?.integerValue)
            let offset = try #require(outputAxes[2 + axis]["size"]?["offset"]?.integerValue)
            #expect(outputAxes[2 + axis]["size"]?["axis_id"] == inputAxes[2 + axis]["id"])
            for n in 0...3 {
                let side = minimum + n * step
                let sides = try #require(network.sides(forInputSide: side, axis: axis), "\(family): side \(side)")
                #expect(sides[network.output] == side + offset)
            }
            probeSides.append(minimum)
        }

        // Test tensors: the probe (the checkpoint's, or the seeded one), raw before its normalisation.
        let probe = try source.probe ?? ProbeMaker.probe(for: source)
        let testInput = try Self.array(package, BioImageNames.testInput)
        let testOutput = try Self.array(package, BioImageNames.testOutput)
        #expect(testInput.shape == probe.input.shape)
        #expect(testOutput.shape == probe.output.shape)
        for (axis, side) in probe.input.shape.dropFirst(2).enumerated() {
            let size = inputAxes[2 + axis]["size"]!
            #expect((side - size["min"]!.integerValue!) % size["step"]!.integerValue! == 0)
            #expect(side >= probeSides[axis])
        }
        let processing = try Processing(network: network, metadata: source.metadata)
        let plane = probe.input.shape.dropFirst(2).reduce(1, *)
        for (index, (raw, expected)) in zip(testInput.values, probe.input.floatValues()).enumerated() {
            let c = index / plane % probe.input.shape[1]
            let normalised = Double(raw) * processing.gains[c] + processing.offsets[c]
            #expect(abs(normalised - Double(expected)) <= 1e-5 * max(1, abs(Double(expected))))
        }
        let segmentation = Segmentation(network)
        let probabilities =
            segmentation.outputIsProbability
            ? probe.output.floatValues()
            : segmentation.probabilities(
                FeatureMap(
                    batch: probe.output.shape[0], channels: probe.output.shape[1],
                    spatial: Array(probe.output.shape.dropFirst(2)), values: probe.output.floatValues())
            ).values
        #expect(testOutput.values == probabilities)
        let post = output["postprocessing"]?.arrayValue?.first?["id"]?.stringValue
        #expect(
            post == (segmentation.outputIsProbability ? nil : segmentation.head == .sigmoid ? "sigmoid" : "softmax"))

        // unet-ckpt verify's check holds.
        let check = try PackageVerification(path: path)
        #expect(check.isValid, "\(check.failures)")
        #expect(check.test?.passed == true)
    }

    @Test("the pre-processing is the metadata's normalisation as scale_linear, per channel when they differ")
    func preprocessing() throws {
        var checkpoint = try CheckpointImporter.read(Fixtures.path("schema2/smp-unet-resnet18.h5")).checkpoint
        checkpoint.metadata.input = .init(scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
        let package = try BioImageExporter.package(for: checkpoint, options: Self.options())
        let kwargs = try #require(
            package.description.jsonValue["inputs"]?.arrayValue?.first?["preprocessing"]?.arrayValue?.first?["kwargs"])
        #expect(kwargs["axis"] == .string("channel"))
        let gainValues = kwargs["gain"]?.arrayValue?.compactMap { $0.doubleValue }
        let gains = try #require(gainValues)
        #expect(gains.count == 3 && abs(gains[0] - 1 / 255 / 0.229) < 1e-12)
        // Read back as the same normalisation (x·g + o = (x − m)/s with s = 1/g, m = −o/g).
        let folder = try TemporaryDirectory()
        try Self.unpack(package, into: folder.path)
        let read = try BioImagePackage(path: folder.path).inputNormalization()
        let std = try #require(read.0?.std)
        #expect(abs(std[2] - 0.225 * 255) < 1e-9)
    }

    @Test("the rdf.yaml written reads back as the same values (strings YAML would take for other types quoted)")
    func yamlRoundTrip() throws {
        let value = YAMLValue.map([
            ("plain", .string("model")), ("y", .string("y")), ("yes", .string("true")), ("number", .string("12")),
            ("colon", .string("a: b # c")), ("unicode", .string("1 → 2 “quoted” \\ \n")), ("empty", .string("")),
            ("small", .number(1e-05)), ("negative", .integer(-184)), ("zero", .number(-0.0)), ("flag", .bool(false)),
            ("list", .list([.string("a"), .integer(1), .number(0.5)])), ("emptyList", .list([])),
            ("maps", .list([.map([("id", .string("x")), ("size", .map([("min", .integer(4))]))])])),
        ])
        let read = try YAMLReading.json(value.text, file: "test")
        #expect(read == value.jsonValue, "\(value.text)")
    }

    @Test("a zoo package with pytorch_state_dict weights: MONAI's UNet from its kwargs, the processing as metadata")
    func zooPyTorch() throws {
        let path = Fixtures.path("bioimageio/monai-unet-2d.bioimageio.zip")
        let imported = try CheckpointImporter.read(path)
        #expect(imported.format == .bioimageio)
        #expect(imported.layout == "monai-unet")
        let metadata = imported.checkpoint.metadata
        #expect(metadata.source?.arguments?["channels"] == .array([.number(4), .number(8), .number(16)]))
        #expect(metadata.source?.assumptions == nil)
        #expect(metadata.source?.format == "bioimageio")
        #expect(metadata.input?.mean == [2] && metadata.input?.std == [2])
        #expect(metadata.classes == ["background", "cell"])
        #expect(metadata.additionalFields["bioimageio"]?["name"] == .string("MONAI UNet 2-D fixture"))
        #expect(imported.notes.contains { $0.contains("never run") })
        // MONAI's own output for the test input, through the weights as read.
        let check = try PackageVerification(path: path)
        #expect(check.isValid, "\(check.failures)")
        #expect(try #require(check.test).maxAbsolute < 1e-5)
        // The same package unpacked into a folder, read from the folder and from its rdf.yaml.
        let folder = try TemporaryDirectory()
        try Self.unzip(path, into: folder.path)
        for entry in [folder.path, folder.file("rdf.yaml")] {
            #expect(try CheckpointImporter.read(entry).checkpoint.tensors == imported.checkpoint.tensors)
        }
        let contents = try CheckpointImporter.readContents(path)
        #expect(contents.format == .bioimageio && contents.layout == "monai-unet")
    }

    @Test("a zoo package with keras_hdf5 weights reads as the Keras file does")
    func zooKeras() throws {
        let imported = try CheckpointImporter.read(Fixtures.path("bioimageio/keras-unet-tiny.bioimageio.zip"))
        let direct = try CheckpointImporter.read(Fixtures.path("keras/unet-tiny.h5"))
        #expect(imported.layout == direct.layout)
        #expect(imported.checkpoint.tensors == direct.checkpoint.tensors)
        #expect(try PackageVerification(path: Fixtures.path("bioimageio/keras-unet-tiny.bioimageio.zip")).isValid)
    }

    @Test("a package with only ONNX weights is refused, naming the formats it has and those unet-ckpt reads")
    func onnxOnly() throws {
        do {
            _ = try CheckpointImporter.read(Fixtures.path("bioimageio/onnx-only.bioimageio.zip"))
            Issue.record("read")
        } catch let error as FormatError {
            #expect(error.kind == .unsupported)
            #expect(error.message.contains("weights are onnx"))
            #expect(error.message.contains("pytorch_state_dict and keras_hdf5"))
        }
    }

    @Test("hostile or broken packages are refused with a message, never run or followed")
    func hostile() throws {
        let base = """
            format_version: 0.5.12
            type: model
            name: hostile
            weights:
              pytorch_state_dict:
                source: SOURCE
                architecture: {source: evil.py, callable: Net}
                pytorch_version: "2.0"

            """
        let cases: [(String, String)] = [
            (base.replacingOccurrences(of: "SOURCE", with: "../outside.pt"), "not a path inside the package"),
            (base.replacingOccurrences(of: "SOURCE", with: "/etc/passwd"), "not a path inside the package"),
            (base.replacingOccurrences(of: "SOURCE", with: "https://example.org/w.pt"), "named by a URL"),
            (base.replacingOccurrences(of: "SOURCE", with: "missing.pt"), "no such file"),
            ("type: model\nweights: [" + String(repeating: "[", count: 200) + "\n", "nested deeper"),
            ("type: model\nname: [unclosed\n", "not valid YAML"),
            ("type: dataset\nname: x\n", "not a model"),
            ("- a list\n", "not a YAML mapping"),
            ("a: &x [1, 2]\nb: [*x, *x]\ntype: model\nweights: {}\n", "weights are missing"),
            ("type: model\ntype: model\n", "not valid YAML"),  // Yams refuses duplicate keys itself
        ]
        for (text, expected) in cases {
            let folder = try TemporaryDirectory()
            try Data(text.utf8).write(to: URL(fileURLWithPath: folder.file("rdf.yaml")))
            do {
                _ = try CheckpointImporter.read(folder.path)
                Issue.record("read: \(text)")
            } catch let error as FormatError {
                #expect(error.description.contains(expected), "\(error.description)")
            }
        }
        // A file whose SHA-256 differs from the description's.
        let folder = try TemporaryDirectory()
        try Self.unzip(Fixtures.path("bioimageio/monai-unet-2d.bioimageio.zip"), into: folder.path)
        try copyFlippingByte(from: folder.file("weights.pt"), to: folder.file("weights.pt"), at: 100)
        #expect(throws: FormatError.self) { try CheckpointImporter.read(folder.path) }
        let check = try PackageVerification(path: folder.path)
        #expect(!check.isValid)
        #expect(check.failures.contains { $0.key == "weights.pytorch_state_dict" && $0.reason.contains("SHA-256") })
    }

    @Test("names, authors and citations are checked as the spec asks")
    func options() throws {
        #expect(throws: BioImageExportError.self) { try BioImageExportOptions.Citation(parsing: "no reference") }
        #expect(throws: BioImageExportError.self) { try BioImageExportOptions.Citation(parsing: "x; doi=11.1") }
        #expect(try BioImageExportOptions.Citation(parsing: "Paper; url=https://x.org").url == "https://x.org")
        let person = try BioImageExportOptions.Person(parsing: "Jane Doe; affiliation=Lab; orcid=0000-0001")
        #expect(person.name == "Jane Doe" && person.fields.count == 2)
        #expect(throws: BioImageExportError.self) { try BioImageExportOptions.Person(parsing: "Jane; phone=1") }
        var options = Self.options()
        options.name = "bad/name"
        let checkpoint = try CheckpointImporter.read(Fixtures.path("h5py/paper-tiny.h5")).checkpoint
        #expect(throws: BioImageExportError.self) { try BioImageExporter.package(for: checkpoint, options: options) }
    }

    @Test("the cover is the drawing's boxes and arrows at 2:1")
    func cover() throws {
        let checkpoint = try CheckpointImporter.read(Fixtures.path("examples/paper-small.h5")).checkpoint
        let drawing = try Drawing(checkpoint)
        #expect(drawing.png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        var document = SVGDocumentSample.boxes()
        let raster = SVGRaster(document.elements, view: (0, 0, 20, 10), width: 20, height: 10)
        // The red box covers (2…5, 2…5); the rest is white.
        #expect(Array(raster.pixels[(3 * 20 + 3) * 3..<(3 * 20 + 3) * 3 + 3]) == [255, 0, 0])
        #expect(Array(raster.pixels[0..<3]) == [255, 255, 255])
        document.append(.text("ignored", x: 0, y: 0, size: 12))
        #expect(SVGRaster(document.elements, view: (0, 0, 20, 10), width: 20, height: 10).pixels == raster.pixels)
    }

    // MARK: - Helpers

    static func array(_ package: BioImagePackage, _ name: String) throws -> UNetInference.NumpyArray {
        let folder = try TemporaryDirectory()
        let file = folder.file(name)
        try Data(try package.bytes(of: name, sha256: nil)).write(to: URL(fileURLWithPath: file))
        return try UNetInference.NumpyArray(contentsOf: file)
    }

    static func unpack(_ package: BioImageExporter.Package, into folder: String) throws {
        for (name, bytes) in package.files { try bytes.write(to: URL(fileURLWithPath: folder + "/" + name)) }
    }

    static func unzip(_ zip: String, into folder: String) throws {
        let reader = try ZipReader(path: zip)
        for name in reader.entryNames where !name.hasSuffix("/") {
            let url = URL(fileURLWithPath: folder).appendingPathComponent(name)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(try reader.read(name)).write(to: url)
        }
    }
}

enum SVGDocumentSample {
    static func boxes() -> SVGDocument {
        var document = SVGDocument(width: 20, height: 10)
        document.append(.rect(x: 2, y: 2, width: 4, height: 4, [("fill", "#ff0000")]))
        return document
    }
}

extension YAMLValue {
    /// The JSON value a YAML reader should give for this value.
    var jsonValue: JSONValue {
        switch self {
        case .map(let pairs): .object(Dictionary(pairs.map { ($0.0, $0.1.jsonValue) }, uniquingKeysWith: { a, _ in a }))
        case .list(let items): .array(items.map(\.jsonValue))
        case .string(let text): .string(text)
        case .integer(let value): .number(Double(value))
        case .number(let value): .number(value)
        case .bool(let value): .bool(value)
        }
    }
}
