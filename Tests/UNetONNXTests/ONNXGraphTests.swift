import Foundation
import SwiftProtobuf
import TestSupport
import Testing
import UNetCheckpoint
import UNetFormats

@testable import UNetInference
@testable import UNetONNX

/// The exported bytes, decoded again with the generated SwiftProtobuf types: versions, the
/// layers of each family, the weights and the graph's inputs and outputs. (That onnxruntime runs
/// these models and matches `predict` is checked by fixtures/check_onnx.py in CI.)
@Suite("ONNX export: the graph")
struct ONNXGraphTests {
    /// The frameworks' files, and the variants of `onnx/` (options no framework fixture has).
    static var fixtures: [Fixtures.SourceFixture] {
        get throws {
            (try Fixtures.sources("pytorch") + Fixtures.sources("safetensors") + Fixtures.sources("keras")
                + Fixtures.sources("onnx")).filter { !$0.file.hasSuffix("old-format.pth") }
        }
    }

    /// One fixture of each layout (paper, milesial transposed and bilinear, MONAI, Keras) and the variants.
    static var layouts: [Fixtures.SourceFixture] {
        get throws {
            try fixtures.filter {
                [
                    "pytorch/milesial-tiny.pth", "pytorch/milesial-tiny-bilinear.pth",
                    "pytorch/monai-basicunet-tiny.pth",
                    "pytorch/paper-custom.pth", "keras/unet-tiny.keras",
                ].contains($0.file) || $0.file.hasPrefix("onnx/")
            }
        }
    }

    static func checkpoint(_ fixture: Fixtures.SourceFixture) throws -> Checkpoint {
        let mapping = try fixture.map.map { try MappingFile(path: Fixtures.path($0)) }
        return try CheckpointImporter.read(Fixtures.path(fixture.file), mapping: mapping).checkpoint
    }

    /// Exports and decodes the bytes again, as a reader of the file would.
    static func exported(_ checkpoint: Checkpoint, _ options: ONNXExportOptions = ONNXExportOptions()) throws
        -> Onnx_ModelProto
    {
        try Onnx_ModelProto(serializedBytes: ONNXExporter.serializedModel(for: checkpoint, options: options))
    }

    /// The architecture the generator recorded for a fixture (not the one our importer inferred),
    /// in schema 1.0's words.
    static func generatorArchitecture(_ fixture: Fixtures.SourceFixture) throws -> ArchitectureV1 {
        let document = try Fixtures.json(at: fixture.expected)
        let data = try JSONSerialization.data(withJSONObject: try #require(document["architecture"]))
        return try JSONDecoder().decode(ArchitectureV1.self, from: data)
    }

    @Test("opset_import and ir_version follow ONNX's version table; other opsets are refused")
    func versions() throws {
        let checkpoint = try CheckpointFile(path: Fixtures.path("h5py/paper-tiny.h5")).read()
        // onnx.helper.VERSION_TABLE: the IR version each opset first shipped with.
        let table = [13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10]
        for (opset, ir) in table {
            let model = try Self.exported(checkpoint, ONNXExportOptions(opset: opset))
            #expect(model.irVersion == Int64(ir), "opset \(opset)")
            #expect(model.opsetImport.map(\.domain) == [""])
            #expect(model.opsetImport.map(\.version) == [Int64(opset)])
        }
        #expect(try Self.exported(checkpoint).opsetImport.first?.version == 17)
        for opset in [12, 22] {
            #expect(throws: ONNXExportError.self) { _ = try Self.exported(checkpoint, ONNXExportOptions(opset: opset)) }
        }
    }

    @Test("each family's layers: one node per layer the architecture describes", arguments: try layouts)
    func layerCounts(_ fixture: Fixtures.SourceFixture) throws {
        let architecture = try Self.generatorArchitecture(fixture)
        let graph = try Self.exported(try Self.checkpoint(fixture)).graph
        let counts = Dictionary(graph.node.map { ($0.opType, 1) }, uniquingKeysWith: +)
        let depth = architecture.encoder.count - 1
        let levelConvs = (architecture.encoder.map(\.convs.count) + architecture.decoder.map(\.convs.count))
            .reduce(0, +)
        let interpolates = architecture.upsample.kind != .transposedConv
        let upConvs = architecture.upsample.convKernel == nil ? 0 : depth
        #expect(counts["Conv"] == levelConvs + upConvs + architecture.head.convs.count + 1)
        #expect(counts["ConvTranspose", default: 0] == (interpolates ? 0 : depth))
        #expect(counts["Resize", default: 0] == (interpolates ? depth : 0))
        #expect(counts["MaxPool"] == depth)
        #expect(graph.node.filter { $0.opType == "Concat" && Self.int($0, "axis") == 1 }.count == depth)
        #expect(counts["BatchNormalization", default: 0] == (architecture.norm.kind == .batch ? levelConvs : 0))
        #expect(counts["InstanceNormalization", default: 0] == (architecture.norm.kind == .instance ? levelConvs : 0))
        let activations =
            levelConvs + architecture.head.convs.filter(\.activation).count
            + (architecture.upsample.activation == true ? depth : 0)
        let activationOp = architecture.activation.kind == .relu ? "Relu" : "LeakyRelu"
        #expect(counts[activationOp] == activations)
        #expect(counts["Pad", default: 0] == (architecture.skip.merge == .crop ? 0 : depth))
        // Crops slice a feature map; the other Slices take [H, W] out of a Shape.
        let crops = graph.node.filter { $0.opType == "Slice" && !$0.input[0].hasSuffix(".shape") }
        #expect(crops.count == (architecture.skip.merge == .crop ? depth : 0))
        #expect(counts["Sigmoid", default: 0] == (architecture.finalActivation == .sigmoid ? 1 : 0))
        #expect(counts["Softmax", default: 0] == (architecture.finalActivation == .softmax ? 1 : 0))
        // The first level runs conv → norm → activation per convolution, then the pool.
        let firstLevel = graph.node.prefix { $0.opType != "MaxPool" }.map(\.opType)
        let norm = ["batch": ["BatchNormalization"], "instance": ["InstanceNormalization"], "none": []][
            architecture.norm.kind.rawValue]!
        #expect(firstLevel == Array(repeating: ["Conv"] + norm + [activationOp], count: 2).flatMap { $0 })
    }

    @Test("the graph is well formed: every input defined before use, one output named output", arguments: try layouts)
    func wellFormed(_ fixture: Fixtures.SourceFixture) throws {
        for fold in [false, true] {
            let graph = try Self.exported(try Self.checkpoint(fixture), ONNXExportOptions(foldBatchNorm: fold)).graph
            var defined = Set(graph.initializer.map(\.name) + ["input", ""])
            for node in graph.node {
                for input in node.input { #expect(defined.contains(input), "\(node.name) reads undefined \(input)") }
                for output in node.output { #expect(defined.insert(output).inserted, "\(output) defined twice") }
            }
            #expect(graph.node.filter { $0.output == ["output"] }.count == 1)
            #expect(graph.output.map(\.name) == ["output"])
            #expect(Set(graph.node.map(\.name)).count == graph.node.count)
            #expect(Set(graph.initializer.map(\.name)).count == graph.initializer.count)
            // Every initializer is used.
            let used = Set(graph.node.flatMap(\.input))
            #expect(graph.initializer.filter { !used.contains($0.name) }.map(\.name) == [])
        }
    }

    @Test(
        "every checkpoint tensor is an initializer: float32 bit for bit, 16-bit widened exactly",
        arguments: try fixtures)
    func weightsAsInitializers(_ fixture: Fixtures.SourceFixture) throws {
        let expected = try Fixtures.expected(at: fixture.expected)
        let checkpoint = try Self.checkpoint(fixture)
        let initializers = Dictionary(
            uniqueKeysWithValues: try Self.exported(checkpoint).graph.initializer.map { ($0.name, $0) })
        for entry in expected.tensors {
            let initializer = try #require(initializers[entry.key], "\(entry.key) missing")
            #expect(initializer.dims == entry.shape.map(Int64.init), "\(entry.key)")
            #expect(initializer.dataType == Int32(Onnx_TensorProto.DataType.float.rawValue))
            if entry.dtype == "float32" {
                #expect(initializer.rawData == expected.bytes(of: entry), "\(entry.key)")
            } else {
                let widened = checkpoint.tensors[entry.key]!.floatValues()
                #expect(initializer.rawData == widened.withUnsafeBytes { Data($0) }, "\(entry.key)")
            }
        }
    }

    @Test("--fold-batchnorm: the inference core's folded weights, no BatchNorm left")
    func foldedBatchNorm() throws {
        let fixture = try #require(try Self.fixtures.first { $0.file == "pytorch/milesial-tiny.pth" })
        let checkpoint = try Self.checkpoint(fixture)
        let graph = try Self.exported(checkpoint, ONNXExportOptions(foldBatchNorm: true)).graph
        let initializers = Dictionary(uniqueKeysWithValues: graph.initializer.map { ($0.name, $0) })
        #expect(!graph.node.contains { $0.opType == "BatchNormalization" })
        #expect(!initializers.keys.contains { $0.contains(".norm") })
        let model = try UNetModel(checkpoint)
        let expected = try Fixtures.expected(at: fixture.expected)
        func reference(_ key: String) -> [Double] {
            let entry = expected.tensors.first { $0.key == key }!
            return expected.bytes(of: entry).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }.map(Double.init)
        }
        let network = checkpoint.network
        var foldedCount = 0
        for (index, node) in network.nodes.enumerated() {
            guard case .conv = node.operation, let next = network.consumers[index].first,
                case .norm(let norm) = network.nodes[next].operation, norm.kind == .batch
            else { continue }
            foldedCount += 1
            let layer = node.key!, normKey = network.nodes[next].key!
            let weight = try #require(initializers["\(layer).weight.bn_folded"])
            let bias = try #require(initializers["\(layer).bias.bn_folded"])
            #expect(graph.node.contains { $0.name == layer && $0.input.dropFirst() == [weight.name, bias.name] })
            // The inference core folds with the same function (its Winograd layers keep the
            // weights transformed, so they are compared here through it and its bias).
            let core = checkpoint.batchNormFolded(convolution: layer, norm: normKey, eps: norm.eps)
            #expect(Self.floats(weight) == core.weight, "\(layer)")
            #expect(Self.floats(bias) == core.bias, "\(layer)")
            if case .conv(let convolution) = model.steps[index] { #expect(convolution.bias == core.bias, "\(layer)") }
            // And against the fold computed here in float64 from the generator's tensors.
            let (gamma, beta) = (reference("\(normKey).weight"), reference("\(normKey).bias"))
            let (mean, variance) = (reference("\(normKey).running_mean"), reference("\(normKey).running_var"))
            let raw = reference("\(layer).weight")
            let perChannel = raw.count / gamma.count
            for o in gamma.indices {
                let scale = gamma[o] / (variance[o] + 1e-5).squareRoot()
                let shift = beta[o] - mean[o] * scale
                #expect(abs(Double(Self.floats(bias)[o]) - shift) <= 1e-6 * max(1, abs(shift)))
                for i in 0..<perChannel {
                    let folded = raw[o * perChannel + i] * scale
                    #expect(
                        abs(Double(Self.floats(weight)[o * perChannel + i]) - folded) <= 1e-6 * max(1, abs(folded)))
                }
            }
        }
        let batchNorms = network.nodes.filter {
            if case .norm(let norm) = $0.operation { norm.kind == .batch } else { false }
        }
        #expect(foldedCount > 0 && foldedCount == batchNorms.count)
        let properties = Dictionary(
            uniqueKeysWithValues: try Self.exported(checkpoint, ONNXExportOptions(foldBatchNorm: true)).metadataProps
                .map {
                    ($0.key, $0.value)
                })
        #expect(properties["batchnorm"] == "folded")
        #expect(try Self.properties(Self.exported(checkpoint))["batchnorm"] == "kept")
    }

    @Test("input and output: batch dynamic; height and width dynamic, shared by same-size networks")
    func valueInfos() throws {
        func dims(_ info: Onnx_ValueInfoProto) -> [String] {
            info.type.tensorType.shape.dim.map {
                switch $0.value {
                case .dimParam(let name): name
                case .dimValue(let size): String(size)
                case nil: "?"
                }
            }
        }
        for fixture in try Self.layouts {
            let architecture = try Self.generatorArchitecture(fixture)
            let graph = try Self.exported(try Self.checkpoint(fixture)).graph
            #expect(graph.input.map(\.name) == ["input"])
            #expect(graph.output.map(\.name) == ["output"])
            #expect(graph.input[0].type.tensorType.elemType == Int32(Onnx_TensorProto.DataType.float.rawValue))
            #expect(dims(graph.input[0]) == ["batch", "\(architecture.inChannels)", "height", "width"])
            let valid = architecture.conv.padding == .valid
            #expect(
                dims(graph.output[0])
                    == [
                        "batch", "\(architecture.outChannels)", valid ? "output_height" : "height",
                        valid ? "output_width" : "width",
                    ], "\(fixture.file)")
        }
    }

    @Test("layer attributes: padding, interpolation rules, pad modes, activation slope")
    func attributes() throws {
        func graph(_ file: String) throws -> Onnx_GraphProto {
            try Self.exported(try Self.checkpoint(try #require(try Self.fixtures.first { $0.file == file }))).graph
        }
        func nodes(_ graph: Onnx_GraphProto, _ op: String) -> [Onnx_NodeProto] { graph.node.filter { $0.opType == op } }

        let paper = try graph("pytorch/paper-custom.pth")
        #expect(nodes(paper, "Conv").allSatisfy { Self.ints($0, "pads") == [0, 0, 0, 0] })
        #expect(nodes(paper, "ConvTranspose").allSatisfy { Self.ints($0, "strides") == [2, 2] })

        let milesial = try graph("pytorch/milesial-tiny-bilinear.pth")
        for resize in nodes(milesial, "Resize") {
            #expect(Self.string(resize, "mode") == "linear")
            #expect(Self.string(resize, "coordinate_transformation_mode") == "align_corners")
        }
        #expect(nodes(milesial, "Pad").allSatisfy { Self.string($0, "mode") == nil })  // constant zeros
        #expect(nodes(milesial, "BatchNormalization").allSatisfy { Self.float($0, "epsilon") == 1e-5 })

        let monai = try graph("pytorch/monai-basicunet-tiny.pth")
        #expect(nodes(monai, "Pad").allSatisfy { Self.string($0, "mode") == "edge" })
        #expect(nodes(monai, "LeakyRelu").allSatisfy { Self.float($0, "alpha") == Float(0.1) })

        let keras = try graph("keras/unet-tiny.keras")
        for resize in nodes(keras, "Resize") {
            #expect(Self.string(resize, "mode") == "nearest")
            #expect(Self.string(resize, "coordinate_transformation_mode") == "asymmetric")
            #expect(Self.string(resize, "nearest_mode") == "floor")
        }
        // The 2×2 conv after the nearest ×2 pads like TensorFlow's "same": nothing before, 1 after.
        let upConvs = nodes(keras, "Conv").filter { $0.name.hasSuffix(".up") }
        #expect(!upConvs.isEmpty && upConvs.allSatisfy { Self.ints($0, "pads") == [0, 0, 1, 1] })
        #expect(
            nodes(keras, "Conv").filter { !$0.name.hasSuffix(".up") }.allSatisfy {
                Self.ints($0, "pads") == [1, 1, 1, 1] || Self.ints($0, "kernel_shape") == [1, 1]
            })
    }

    @Test("metadata_props carry the classes, normalisation and provenance; the producer is unet-ckpt")
    func metadata() throws {
        let checkpoint = try CheckpointFile(path: Fixtures.path("h5py/paper-tiny.h5")).read()
        let model = try Self.exported(checkpoint)
        #expect(model.producerName == "unet-ckpt")
        #expect(model.producerVersion == UNetCheckpointLibrary.version)
        let properties = Dictionary(uniqueKeysWithValues: model.metadataProps.map { ($0.key, $0.value) })
        let classes = try #require(checkpoint.metadata.classes)
        #expect(try JSONDecoder().decode([String].self, from: Data(properties["classes"]!.utf8)) == classes)
        let input = try #require(checkpoint.metadata.input)
        #expect(
            try JSONDecoder().decode(
                CheckpointMetadata.InputNormalization.self, from: Data(properties["input_normalization"]!.utf8))
                == input)
        #expect(
            try JSONDecoder().decode(CheckpointMetadata.Source.self, from: Data(properties["source"]!.utf8))
                == checkpoint.metadata.source)
        #expect(
            try JSONDecoder().decode(UNetArchitecture.self, from: Data(properties["unet_ckpt.architecture"]!.utf8))
                == checkpoint.architecture)
        #expect(properties["output"] == "logits")
        #expect(model.docString == checkpoint.architecture.descriptionLines.joined(separator: "\n"))
        #expect(model.graph.name == checkpoint.architecture.name ?? "unet")
    }

    // MARK: Reading attributes

    static func attribute(_ node: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? {
        node.attribute.first { $0.name == name }
    }
    static func int(_ node: Onnx_NodeProto, _ name: String) -> Int64? { attribute(node, name)?.i }
    static func ints(_ node: Onnx_NodeProto, _ name: String) -> [Int64]? { attribute(node, name)?.ints }
    static func float(_ node: Onnx_NodeProto, _ name: String) -> Float? { attribute(node, name)?.f }
    static func string(_ node: Onnx_NodeProto, _ name: String) -> String? {
        attribute(node, name).map { String(decoding: $0.s, as: UTF8.self) }
    }
    static func properties(_ model: Onnx_ModelProto) -> [String: String] {
        Dictionary(uniqueKeysWithValues: model.metadataProps.map { ($0.key, $0.value) })
    }
    static func floats(_ tensor: Onnx_TensorProto) -> [Float] {
        tensor.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}
