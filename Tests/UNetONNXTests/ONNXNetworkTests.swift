import Foundation
import SwiftProtobuf
import TestSupport
import Testing
import UNetCheckpoint

@testable import UNetONNX

/// Hand-built schema 2.0 networks (strided and grouped convs, residual units, attention gates,
/// squeeze-and-excitation, spatial attention, group norm, PReLU, 3-D): the graph's structure,
/// attributes, opset-dependent forms and initializers. (onnxruntime's numbers for these node
/// kinds were compared with PyTorch's by hand; fixtures/check_onnx.py does it for the fixtures.)
@Suite("ONNX export: schema 2.0 networks")
struct ONNXNetworkTests {
    static let networks = HandBuiltNetworks.all

    typealias Graph = Onnx_GraphProto
    typealias Node = Onnx_NodeProto

    static func export(
        _ architecture: UNetArchitecture, opset: Int = ONNXExportOptions.defaultOpset, fold: Bool = false,
        otherHeads: Bool = true
    ) throws -> (Checkpoint, Onnx_ModelProto) {
        let checkpoint = try Self.checkpoint(architecture)
        let options = ONNXExportOptions(opset: opset, foldBatchNorm: fold, otherHeads: otherHeads)
        let data = try ONNXExporter.serializedModel(for: checkpoint, options: options)
        return (checkpoint, try Onnx_ModelProto(serializedBytes: data))
    }

    /// Seeded weights, with positive running variances.
    static func checkpoint(_ architecture: UNetArchitecture) throws -> Checkpoint {
        var tensors = try syntheticCheckpoint(architecture).tensors
        for (key, tensor) in tensors where key.hasSuffix(".running_var") {
            tensors[key] = Tensor(shape: tensor.shape, values: tensor.floatValues().map { abs($0) + 0.5 })
        }
        return try Checkpoint(architecture: architecture, tensors: tensors)
    }

    static func nodes(_ graph: Graph, _ op: String) -> [Node] { graph.node.filter { $0.opType == op } }
    static func node(_ graph: Graph, _ name: String) throws -> Node {
        try #require(graph.node.first { $0.name == name }, "no node \(name)")
    }
    static func ints(_ node: Node, _ name: String) -> [Int64]? { ONNXGraphTests.ints(node, name) }
    static func int(_ node: Node, _ name: String) -> Int64? { ONNXGraphTests.int(node, name) }
    static func string(_ node: Node, _ name: String) -> String? { ONNXGraphTests.string(node, name) }
    static func initializer(_ graph: Graph, _ name: String) -> Onnx_TensorProto? {
        graph.initializer.first { $0.name == name }
    }
    static func int64s(_ tensor: Onnx_TensorProto?) -> [Int64] {
        tensor?.rawData.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) } ?? []
    }

    /// How many network nodes of a kind there are.
    static func count(_ network: UNetNetwork, _ matches: (UNetNetwork.Operation) -> Bool) -> Int {
        network.nodes.filter { matches($0.operation) }.count
    }

    @Test(
        "well formed at every opset, folded or not: defined before use, unique names, every initializer used",
        arguments: networks)
    func wellFormed(_ architecture: UNetArchitecture) throws {
        for opset in [13, 17, 18, 20, 21] {
            for fold in [false, true] {
                let (_, model) = try Self.export(architecture, opset: opset, fold: fold)
                let graph = model.graph
                var defined = Set(graph.initializer.map(\.name) + ["input", ""])
                for node in graph.node {
                    for input in node.input {
                        #expect(defined.contains(input), "\(architecture.name!) \(opset): \(node.name) reads \(input)")
                    }
                    for output in node.output { #expect(defined.insert(output).inserted, "\(output) defined twice") }
                }
                for output in graph.output { #expect(defined.contains(output.name), "output \(output.name)") }
                #expect(Set(graph.node.map(\.name)).count == graph.node.count)
                #expect(Set(graph.initializer.map(\.name)).count == graph.initializer.count)
                let used = Set(graph.node.flatMap(\.input))
                #expect(graph.initializer.filter { !used.contains($0.name) }.map(\.name) == [])
                #expect(model.opsetImport.map(\.version) == [Int64(opset)])
            }
        }
    }

    @Test("one ONNX node per network node of each kind; every tensor an initializer, bit for bit", arguments: networks)
    func structure(_ architecture: UNetArchitecture) throws {
        let (checkpoint, model) = try Self.export(architecture)
        let graph = model.graph
        let network = checkpoint.network
        let ops = Dictionary(graph.node.map { ($0.opType, 1) }, uniquingKeysWith: +)
        func expectCount(_ op: String, _ expected: Int, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(ops[op, default: 0] == expected, "\(architecture.name!): \(op)", sourceLocation: sourceLocation)
        }
        expectCount("Conv", Self.count(network) { if case .conv = $0 { true } else { false } })
        expectCount("ConvTranspose", Self.count(network) { if case .convTranspose = $0 { true } else { false } })
        expectCount("MaxPool", Self.count(network) { if case .maxPool = $0 { true } else { false } })
        expectCount("AveragePool", Self.count(network) { if case .avgPool = $0 { true } else { false } })
        expectCount("Resize", Self.count(network) { if case .interpolate = $0 { true } else { false } })
        expectCount("GlobalAveragePool", Self.count(network) { $0 == .globalAveragePool })
        expectCount("ReduceMean", Self.count(network) { $0 == .channelStatistic(.mean) })
        expectCount("ReduceMax", Self.count(network) { $0 == .channelStatistic(.max) })
        expectCount("Dropout", 0)
        func norms(_ kind: Layer.Norm.Kind) -> Int {
            Self.count(network) { if case .norm(let norm) = $0 { norm.kind == kind } else { false } }
        }
        expectCount("BatchNormalization", norms(.batch))
        // Opset 17: group norms are instance norms over the groups.
        expectCount("InstanceNormalization", norms(.instance) + norms(.group))
        expectCount("GroupNormalization", 0)
        expectCount("Softmax", Self.count(network) { $0 == .activation(.init(.softmax)) })
        // Concat along channels: the network's concatenations (the others build pads).
        #expect(
            Self.nodes(graph, "Concat").filter { Self.int($0, "axis") == 1 }.count
                == Self.count(network) { $0 == .concat })
        // Convolutions, transposed convolutions and norms are named after their keys.
        for node in network.nodes {
            guard let key = node.key else { continue }
            switch node.operation {
            case .conv, .convTranspose, .norm: #expect(graph.node.contains { $0.name == key }, "\(key)")
            default: break
            }
        }
        // Every checkpoint tensor, float32 bit for bit under its key and shape.
        for spec in network.tensorSpecs {
            let initializer = try #require(Self.initializer(graph, spec.key), "\(spec.key)")
            #expect(initializer.dims == spec.shape.map(Int64.init))
            #expect(initializer.dataType == Int32(Onnx_TensorProto.DataType.float.rawValue))
            #expect(initializer.rawData == checkpoint.tensors[spec.key]!.floatValues().withUnsafeBytes { Data($0) })
        }
        #expect(model.docString == architecture.descriptionLines.joined(separator: "\n"))
        #expect(graph.name == architecture.name)
    }

    @Test("inputs and outputs: N-D, dynamic sides, the other heads named after them")
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
        let (_, residual) = try Self.export(SchemaTwoNetworks.residualAttention)
        #expect(residual.graph.input.map(dims) == [["batch", "1", "height", "width"]])
        #expect(residual.graph.output.map(\.name) == ["output", "aux"])
        #expect(
            residual.graph.output.map(dims) == [["batch", "3", "height", "width"], ["batch", "3", "height", "width"]])
        let aux = try Self.node(residual.graph, "aux")
        #expect(aux.opType == "Identity" && aux.input == ["aux.out"])
        // Without the other heads, their nodes and tensors are left out.
        let (_, single) = try Self.export(SchemaTwoNetworks.residualAttention, otherHeads: false)
        #expect(single.graph.output.map(\.name) == ["output"])
        #expect(!single.graph.initializer.contains { $0.name.hasPrefix("aux.") })
        #expect(!single.graph.node.contains { $0.name.hasPrefix("aux") })

        let (_, merges) = try Self.export(HandBuiltNetworks.merges)
        #expect(merges.graph.output.map(\.name) == ["output", "ds1"])
        #expect(
            merges.graph.output.map(dims) == [
                ["batch", "3", "output_height", "output_width"], ["batch", "3", "ds1_height", "ds1_width"],
            ])
        #expect(ONNXGraphTests.properties(merges)["output"] == "softmax probabilities over axis 1")

        let (_, volume) = try Self.export(HandBuiltNetworks.volumetric)
        #expect(volume.graph.input.map(dims) == [["batch", "2", "depth", "height", "width"]])
        // The transposed conv doubles every side: the output's differ from the input's.
        #expect(
            volume.graph.output.map(dims) == [["batch", "2", "output_depth", "output_height", "output_width"]])
        #expect(ONNXGraphTests.properties(volume)["output"] == "sigmoid probabilities")
        let (_, anisotropic) = try Self.export(SchemaTwoNetworks.anisotropic3D)
        #expect(anisotropic.graph.output.map(dims) == [["batch", "2", "depth", "height", "width"]])
        #expect(ONNXGraphTests.properties(anisotropic)["output"] == "logits")
    }

    @Test("convolutions: dilated and strided same, groups, explicit pads, Keras same and output padding")
    func convolutionAttributes() throws {
        let (_, model) = try Self.export(HandBuiltNetworks.poolsAndActivations)
        let graph = model.graph
        // `same` at stride 1 with dilation 2: (3 − 1)·2 = 4, split 2 and 2.
        let dilated = try Self.node(graph, "encoder.0.conv0")
        #expect(Self.ints(dilated, "pads") == [2, 2, 2, 2])
        #expect(Self.ints(dilated, "dilations") == [2, 2])
        #expect(Self.string(dilated, "auto_pad") == nil)
        // `same` with a stride: ONNX pads as TensorFlow does, per input size.
        let strided = try Self.node(graph, "encoder.0.down")
        #expect(Self.string(strided, "auto_pad") == "SAME_UPPER")
        #expect(Self.ints(strided, "pads") == nil)
        #expect(Self.ints(strided, "strides") == [2, 2])
        #expect(Self.int(strided, "group") == 3)
        #expect(strided.input.count == 2)  // no bias
        #expect(Self.int(try Self.node(graph, "encoder.1.conv0"), "group") == 2)
        #expect(Self.ints(try Self.node(graph, "encoder.1.conv0"), "pads") == [1, 1, 1, 1])
        // Keras `same` transposed, kernel 3, stride 2: crops 1, at the end.
        let up = try Self.node(graph, "decoder.0.up")
        #expect(up.opType == "ConvTranspose")
        #expect(Self.ints(up, "pads") == [0, 0, 1, 1])
        #expect(Self.ints(up, "strides") == [2, 2])
        #expect(Self.ints(up, "output_padding") == nil)
        #expect(up.input.dropFirst() == ["decoder.0.up.weight", "decoder.0.up.bias"])

        let (_, residual) = try Self.export(SchemaTwoNetworks.residualAttention)
        let transposed = try Self.node(residual.graph, "decoder.0.up")
        #expect(Self.ints(transposed, "pads") == [1, 1, 1, 1])
        #expect(Self.ints(transposed, "output_padding") == [1, 1])
        let shortcut = try Self.node(residual.graph, "encoder.1.unit.shortcut")
        #expect(Self.ints(shortcut, "strides") == [2, 2] && Self.ints(shortcut, "pads") == [0, 0, 0, 0])

        let (_, volume) = try Self.export(HandBuiltNetworks.volumetric)
        let volumeUp = try Self.node(volume.graph, "decoder.1.up")
        #expect(Self.ints(volumeUp, "kernel_shape") == [2, 2, 2])
        #expect(Self.ints(volumeUp, "output_padding") == [1, 0, 0])
        #expect(Self.ints(volumeUp, "pads") == [0, 0, 0, 0, 0, 0])
        #expect(Self.ints(try Self.node(volume.graph, "encoder.0.conv0"), "pads") == [1, 1, 1, 1, 1, 1])
        let (_, anisotropic) = try Self.export(SchemaTwoNetworks.anisotropic3D)
        let first = try Self.node(anisotropic.graph, "encoder.0.conv0")
        #expect(Self.ints(first, "kernel_shape") == [1, 3, 3] && Self.ints(first, "pads") == [0, 1, 1, 0, 1, 1])
        #expect(Self.ints(try Self.node(anisotropic.graph, "encoder.1.conv0"), "strides") == [1, 2, 2])
    }

    @Test("pools, interpolation and activations: their attributes and constants")
    func layerAttributes() throws {
        let (_, model) = try Self.export(HandBuiltNetworks.poolsAndActivations)
        let graph = model.graph
        let max = try #require(Self.nodes(graph, "MaxPool").first)
        #expect(Self.ints(max, "kernel_shape") == [3, 3] && Self.ints(max, "pads") == [1, 1, 1, 1])
        #expect(Self.int(max, "ceil_mode") == 1)
        let averages = Self.nodes(graph, "AveragePool")
        #expect(averages.map { Self.int($0, "count_include_pad") } == [0, 1])
        #expect(averages.map { Self.int($0, "ceil_mode") } == [1, 0])
        #expect(averages.map { Self.ints($0, "strides") } == [[2, 2], [1, 1]])
        let resizes = Self.nodes(graph, "Resize")
        #expect(resizes.map { Self.string($0, "mode") } == ["linear", "nearest"])
        #expect(
            resizes.map { Self.string($0, "coordinate_transformation_mode") } == ["pytorch_half_pixel", "asymmetric"])
        #expect(Self.string(resizes[1], "nearest_mode") == "floor")
        let scales = resizes.map { resize in
            Self.initializer(graph, resize.input[2]).map(ONNXGraphTests.floats) ?? []
        }
        #expect(scales == [[1, 1, 2, 2], [1, 1, 2, 3]])
        #expect(resizes.allSatisfy { $0.input[1] == "" })
        // ReLU6 is a Clip between constants 0 and 6; ELU keeps its alpha.
        let clip = try #require(Self.nodes(graph, "Clip").first)
        #expect(clip.input.dropFirst().map { Self.initializer(graph, $0).map(ONNXGraphTests.floats) } == [[0], [6]])
        #expect(Self.nodes(graph, "Elu").map { ONNXGraphTests.float($0, "alpha") } == [0.5])
        // SiLU: x · sigmoid(x).
        let silu = try Self.node(graph, "decoder[0].layers[1]")
        let sigmoid = try #require(graph.node.first { $0.output == [silu.input[1]] })
        #expect(silu.opType == "Mul" && sigmoid.opType == "Sigmoid" && sigmoid.input == [silu.input[0]])
        // No Dropout: the next node reads the GELU's output directly.
        let conv1 = try Self.node(graph, "encoder.1.conv1")
        #expect(conv1.input[0] == "encoder[1].layers[3]")

        let (_, residual) = try Self.export(SchemaTwoNetworks.residualAttention)
        // A PReLU slope per channel broadcasts as [C, 1, 1]; a shared one stays [1].
        let prelu = try #require(Self.nodes(residual.graph, "PRelu").first)
        let reshape = try #require(residual.graph.node.first { $0.output == [prelu.input[1]] })
        #expect(reshape.opType == "Reshape" && reshape.input[0] == "encoder.0.act.weight")
        #expect(Self.int64s(Self.initializer(residual.graph, reshape.input[1])) == [4, 1, 1])
        #expect(Self.nodes(residual.graph, "LeakyRelu").map { ONNXGraphTests.float($0, "alpha") } == [0.01])
        #expect(Self.nodes(residual.graph, "Softmax").map { Self.int($0, "axis") } == [1])
        let (_, volume) = try Self.export(HandBuiltNetworks.volumetric)
        #expect(Self.nodes(volume.graph, "PRelu").map { $0.input[1] } == ["encoder.0.act.weight"])
        let trilinear = try #require(Self.nodes(volume.graph, "Resize").first)
        #expect(Self.initializer(volume.graph, trilinear.input[2]).map(ONNXGraphTests.floats) == [1, 1, 1, 2, 2])
        #expect(Self.ints(try #require(Self.nodes(volume.graph, "AveragePool").first), "pads") == [1, 1, 1, 1, 1, 1])
    }

    @Test("opset-dependent forms: Gelu from 20, GroupNormalization from 21, Reduce axes as an input from 18")
    func opsetForms() throws {
        for opset in [13, 17, 18, 19, 20, 21] {
            let (_, pools) = try Self.export(HandBuiltNetworks.poolsAndActivations, opset: opset)
            let gelus = Self.nodes(pools.graph, "Gelu")
            if opset >= 20 {
                #expect(gelus.map { Self.string($0, "approximate") } == ["none", "tanh"])
                #expect(Self.nodes(pools.graph, "Erf").isEmpty)
            } else {
                #expect(gelus.isEmpty)
                // Exact: 0.5·x·(1 + erf(x/√2)); tanh: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
                #expect(Self.nodes(pools.graph, "Erf").count == 1)
                #expect(Self.nodes(pools.graph, "Tanh").count == 2)  // the approximation and the tanh layer
                #expect(Self.initializer(pools.graph, "const.float.0.044715") != nil)
            }

            let (checkpoint, residual) = try Self.export(SchemaTwoNetworks.residualAttention, opset: opset)
            let graph = residual.graph
            for op in ["ReduceMean", "ReduceMax"] {
                let reduce = try #require(Self.nodes(graph, op).first)
                #expect(Self.int(reduce, "keepdims") == 1)
                if opset >= 18 {
                    #expect(reduce.input.count == 2 && Self.int64s(Self.initializer(graph, reduce.input[1])) == [1])
                    #expect(Self.ints(reduce, "axes") == nil)
                } else {
                    #expect(reduce.input.count == 1 && Self.ints(reduce, "axes") == [1])
                }
            }
            let norm = "encoder.1.unit.norm1"
            if opset >= 21 {
                let group = try Self.node(graph, norm)
                #expect(group.opType == "GroupNormalization" && Self.int(group, "num_groups") == 2)
                #expect(group.input.dropFirst() == ["\(norm).weight", "\(norm).bias"])
            } else {
                // Reshape to [N, G, -1], InstanceNormalization with unit scale, reshape back, the affine.
                let add = try Self.node(graph, norm)
                #expect(add.opType == "Add")
                let grouped = try Self.node(graph, "\(norm).grouped")
                #expect(grouped.opType == "Reshape")
                #expect(Self.int64s(Self.initializer(graph, grouped.input[1])) == [0, 2, -1])
                let instance = try Self.node(graph, "\(norm).normalized")
                #expect(instance.input.dropFirst() == ["const.ones.2", "const.zeros.2"])
                #expect(Self.nodes(graph, "GroupNormalization").isEmpty)
                let mul = try Self.node(graph, "\(norm).scaled")
                let scale = try #require(graph.node.first { $0.output == [mul.input[1]] })
                #expect(scale.input[0] == "\(norm).weight")
                #expect(Self.int64s(Self.initializer(graph, scale.input[1])) == [8, 1, 1])
            }
            _ = checkpoint
        }
        // A non-affine group norm at 21 gets unit scale and zero shift per channel.
        let (_, pools) = try Self.export(HandBuiltNetworks.poolsAndActivations, opset: 21)
        let group = try #require(Self.nodes(pools.graph, "GroupNormalization").first)
        #expect(group.input.dropFirst() == ["const.ones.8", "const.zeros.8"] && Self.int(group, "num_groups") == 4)
    }

    @Test("composite layers: residual sum, squeeze-and-excitation, spatial attention, attention gate")
    func composites() throws {
        let (_, model) = try Self.export(SchemaTwoNetworks.residualAttention)
        let graph = model.graph
        func producer(_ value: String) throws -> Node {
            try #require(graph.node.first { $0.output == [value] }, "no producer of \(value)")
        }
        // Residual: Add(body, shortcut), then the ReLU after.
        let sum = try #require(
            Self.nodes(graph, "Add").first { $0.name.hasSuffix(".add") && $0.name.hasPrefix("encoder") })
        #expect(try sum.input.map { try producer($0).name } == ["encoder.1.unit.norm1", "encoder.1.unit.shortcut"])
        // SE: x · sigmoid(expand(relu(reduce(mean over space)))).
        let pool = try #require(Self.nodes(graph, "GlobalAveragePool").first)
        #expect(try producer(pool.input[0]).opType == "Relu")
        let reduce = try Self.node(graph, "encoder.1.se.reduce")
        #expect(reduce.input[0] == pool.output[0])
        let gate = try #require(graph.node.first { $0.opType == "Mul" && $0.input[0] == pool.input[0] })
        #expect(try producer(gate.input[1]).opType == "Sigmoid")
        // Spatial attention: Concat(mean, max) along channels, a 7×7 conv padded 3, sigmoid, Mul.
        let sa = try Self.node(graph, "decoder.0.sa.conv")
        #expect(Self.ints(sa, "pads") == [3, 3, 3, 3])
        let statistics = try producer(sa.input[0])
        #expect(statistics.opType == "Concat" && Self.int(statistics, "axis") == 1)
        #expect(try statistics.input.map { try producer($0).opType } == ["ReduceMean", "ReduceMax"])
        // Attention gate: skip · sigmoid(psi(relu(gate(g) + skip(x)))), with psi's BatchNorm.
        let psiNorm = try Self.node(graph, "decoder.0.attention.psi_norm")
        #expect(psiNorm.opType == "BatchNormalization")
        let sigmoid = try #require(graph.node.first { $0.opType == "Sigmoid" && $0.input == psiNorm.output })
        let attended = try #require(graph.node.first { $0.opType == "Mul" && $0.input.last == sigmoid.output[0] })
        #expect(attended.input[0] == "encoder.0.act")  // encoder.0's output: the PReLU
        let concat = try #require(graph.node.first { $0.name == "decoder[0].merge.concat" })
        #expect(concat.input[0] == attended.output[0])  // skip first
        let combine = try #require(graph.node.first { $0.name == "decoder[0].attention.add" })
        #expect(
            try combine.input.map { try producer($0).name } == [
                "decoder.0.attention.gate", "decoder.0.attention.skip",
            ])
        // The multiplicative combination of the 3-D network's gate.
        let (_, volume) = try Self.export(HandBuiltNetworks.volumetric)
        #expect(volume.graph.node.contains { $0.name == "decoder[0].attention.multiply" && $0.opType == "Mul" })
    }

    @Test("merges to a reference: crop and pads computed from the shapes, in 2-D and 3-D")
    func merges() throws {
        let (_, model) = try Self.export(HandBuiltNetworks.merges)
        let graph = model.graph
        let pad = try Self.node(graph, "decoder[0].merge.pad")
        #expect(pad.opType == "Pad" && Self.string(pad, "mode") == nil)
        let crop = try Self.node(graph, "decoder[1].merge.crop")
        #expect(crop.opType == "Slice" && crop.input[0] == "encoder[0].layers[1]")
        #expect(Self.int64s(Self.initializer(graph, crop.input[3])) == [2, 3])
        let concat = try Self.node(graph, "decoder[1].merge.concat")
        #expect(concat.input == ["decoder.1.up", crop.output[0]])  // up-sampled first
        // No size is baked in: every Slice start and end comes from Shape nodes.
        #expect(Self.nodes(graph, "Shape").count == 4)

        let (_, volume) = try Self.export(HandBuiltNetworks.volumetric)
        let replicate = try Self.node(volume.graph, "decoder[0].merge.pad")
        #expect(Self.string(replicate, "mode") == "edge")
        let pads = try #require(volume.graph.node.first { $0.output == [replicate.input[1]] })
        #expect(Self.int64s(Self.initializer(volume.graph, pads.input[0])) == [0, 0, 0, 0, 0, 0, 0])
        let size = try #require(volume.graph.node.first { $0.opType == "Slice" && $0.name.hasSuffix(".size") })
        #expect(Self.int64s(Self.initializer(volume.graph, size.input[2])) == [5])
    }

    @Test("--fold-batchnorm: affine BatchNorms after a convolution fold, the others stay")
    func folding() throws {
        let (checkpoint, model) = try Self.export(HandBuiltNetworks.poolsAndActivations, fold: true)
        let graph = model.graph
        #expect(Self.nodes(graph, "BatchNormalization").map(\.name) == ["encoder.0.plain"])
        let conv = try Self.node(graph, "encoder.0.conv0")
        #expect(conv.input.dropFirst() == ["encoder.0.conv0.weight.bn_folded", "encoder.0.conv0.bias.bn_folded"])
        let folded = checkpoint.batchNormFolded(convolution: "encoder.0.conv0", norm: "encoder.0.norm0", eps: 1e-3)
        #expect(Self.initializer(graph, conv.input[1]).map(ONNXGraphTests.floats) == folded.weight)
        #expect(Self.initializer(graph, conv.input[2]).map(ONNXGraphTests.floats) == folded.bias)
        #expect(Self.initializer(graph, "encoder.0.norm0.running_mean") == nil)
        // The non-affine BatchNorm takes unit scale and zero shift.
        let plain = try Self.node(graph, "encoder.0.plain")
        #expect(
            plain.input.dropFirst() == [
                "const.ones.6", "const.zeros.6", "encoder.0.plain.running_mean",
                "encoder.0.plain.running_var",
            ])
        #expect(ONNXGraphTests.properties(model)["batchnorm"] == "folded 1 of 2")

        // A convolution without bias gets the folded one; 3-D alike.
        let (volumeCheckpoint, volume) = try Self.export(HandBuiltNetworks.volumetric, fold: true)
        #expect(Self.nodes(volume.graph, "BatchNormalization").isEmpty)
        let conv3 = try Self.node(volume.graph, "encoder.1.conv0")
        let folded3 = volumeCheckpoint.batchNormFolded(
            convolution: "encoder.1.conv0", norm: "encoder.1.norm0", eps: 1e-5)
        #expect(Self.initializer(volume.graph, conv3.input[2]).map(ONNXGraphTests.floats) == folded3.bias)
        #expect(Self.initializer(volume.graph, conv3.input[1])?.dims == [8, 4, 3, 3, 3])
        #expect(ONNXGraphTests.properties(volume)["batchnorm"] == "folded")
        // The LeakyReLU reads the folded convolution directly.
        #expect(Self.nodes(volume.graph, "LeakyRelu").first?.input == ["encoder.1.conv0"])
        let (_, kept) = try Self.export(HandBuiltNetworks.volumetric)
        #expect(ONNXGraphTests.properties(kept)["batchnorm"] == "kept")
        #expect(ONNXGraphTests.properties(try Self.export(SchemaTwoNetworks.anisotropic3D).1)["batchnorm"] == nil)
    }

    @Test("the default output as another node's value: an empty head after a dropout, shared, or the input itself")
    func aliasedOutputs() throws {
        let conv = HandBuiltNetworks.conv("conv0", 2, [3, 3], padding: .same)
        let shared = UNetArchitecture(
            name: "aliases", inChannels: 1, encoder: [.init(name: "encoder.0", layers: [conv])],
            decoder: [
                .init(name: "decoder.0", skip: nil, layers: [.activation(.init(.relu)), .dropout(.init(rate: 0.1))])
            ],
            heads: [
                .init(name: "head", from: 0, layers: []),
                .init(name: "copy", from: 0, role: .deepSupervision, layers: []),
            ])
        let (_, model) = try Self.export(shared)
        let graph = model.graph
        #expect(graph.node.map(\.opType) == ["Conv", "Relu", "Identity"])
        #expect(graph.node[1].output == ["output"])
        #expect(graph.node[2].name == "copy" && graph.node[2].input == ["output"] && graph.node[2].output == ["copy"])
        #expect(graph.output.map(\.name) == ["output", "copy"])

        let identity = UNetArchitecture(
            name: "identity", inChannels: 1, encoder: [.init(name: "encoder.0", layers: [])],
            decoder: [.init(name: "decoder.0", skip: nil, layers: [])],
            heads: [.init(name: "head", from: 0, layers: [])])
        let (_, passThrough) = try Self.export(identity)
        #expect(passThrough.graph.node.map(\.opType) == ["Identity"])
        #expect(passThrough.graph.node.first?.input == ["input"] && passThrough.graph.node.first?.output == ["output"])

        // A convolution that is itself an output keeps its BatchNorm when folding.
        let exposed = UNetArchitecture(
            name: "exposed", inChannels: 1, encoder: [.init(name: "encoder.0", layers: [conv])],
            decoder: [
                .init(
                    name: "decoder.0", skip: nil, layers: [HandBuiltNetworks.conv("conv0", 2, [1, 1], padding: .same)]),
                .init(
                    name: "decoder.1", up: [.norm(.init(name: "norm", kind: .batch, eps: 1e-5))], skip: nil,
                    layers: [.activation(.init(.relu))]),
            ],
            heads: [
                .init(name: "head", from: 1, layers: []),
                .init(name: "aux", from: 0, role: .deepSupervision, layers: []),
            ])
        let (_, kept) = try Self.export(exposed, fold: true)
        #expect(kept.graph.node.map(\.opType) == ["Conv", "Conv", "BatchNormalization", "Relu", "Identity"])
        #expect(kept.graph.node.last?.input == ["decoder.0.conv0"])
        #expect(ONNXGraphTests.properties(kept)["batchnorm"] == "kept")
    }
}
