import Foundation
import SwiftProtobuf
import UNetCheckpoint

/// Writes a checkpoint's whole network as an ONNX model: every node of `Checkpoint.network` the
/// inference core runs, the weights as float32 initializers under their canonical keys, input
/// `input` `[batch, C, (depth,) height, width]` and output `output` (the network's default
/// output, `UNetNetwork.output`), with the batch and the spatial sizes dynamic (docs/onnx.md).
/// With ``ONNXExportOptions/otherHeads`` (the default) every other head is an output too, named
/// after the head (`ds1`), after `output`.
public enum ONNXExporter {
    /// The ONNX model of `checkpoint`.
    static func model(for checkpoint: Checkpoint, options: ONNXExportOptions = ONNXExportOptions())
        throws(ONNXExportError) -> Onnx_ModelProto
    {
        guard ONNXExportOptions.supportedOpsets.contains(options.opset) else {
            let range = ONNXExportOptions.supportedOpsets
            throw ONNXExportError(
                "opset \(options.opset) is not supported: choose one within \(range.lowerBound)-\(range.upperBound)")
        }
        let architecture = checkpoint.architecture
        let network = checkpoint.network
        var builder = UNetGraph(checkpoint: checkpoint, options: options)
        let (nodes, initializers, outputs) = builder.build()

        var graph = Onnx_GraphProto()
        graph.name = architecture.name ?? "unet"
        graph.node = nodes
        graph.initializer = initializers
        let axes = spatialAxisNames(architecture.spatialDims)
        graph.input = [
            valueInfo(
                UNetGraph.inputName,
                [.symbolic("batch"), .fixed(architecture.inChannels)] + axes.map { .symbolic($0) })
        ]
        graph.output = outputs.map { output in
            // A side that always equals the input's shares its name; others are named after the output.
            let prefix = output.head == nil ? UNetGraph.outputName : output.name
            let spatial: [Dimension] = axes.indices.map { axis in
                keepsInputSide(network, node: output.node, axis: axis)
                    ? .symbolic(axes[axis]) : .symbolic("\(prefix)_\(axes[axis])")
            }
            return valueInfo(
                output.name, [.symbolic("batch"), .fixed(network.nodes[output.node].channels)] + spatial)
        }

        var model = Onnx_ModelProto()
        model.irVersion = Int64(ONNXExportOptions.irVersion(forOpset: options.opset))
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Int64(options.opset)
        model.opsetImport = [opset]
        model.producerName = "unet-ckpt"
        model.producerVersion = UNetCheckpointLibrary.version
        model.docString = architecture.descriptionLines.joined(separator: "\n")
        model.graph = graph
        model.metadataProps = metadataProperties(checkpoint, graph: builder, options: options).map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        return model
    }

    /// The serialised ONNX model of `checkpoint`.
    public static func serializedModel(for checkpoint: Checkpoint, options: ONNXExportOptions = ONNXExportOptions())
        throws -> Data
    {
        try model(for: checkpoint, options: options).serializedData()
    }

    /// Writes the ONNX model of `checkpoint` to `path` atomically.
    public static func write(
        _ checkpoint: Checkpoint, to path: String, options: ONNXExportOptions = ONNXExportOptions()
    ) throws {
        let data = try serializedModel(for: checkpoint, options: options)
        try AtomicWrite.replace(path) { temporary in
            guard FileManager.default.createFile(atPath: temporary, contents: data) else {
                throw CheckpointError(.io, file: path, "cannot write the ONNX model")
            }
        }
    }

    /// The model's `metadata_props`, in this order: the network and checkpoint metadata as
    /// unet-ckpt's JSON, and the fields a runtime user looks for (classes, input normalisation,
    /// mask values, where the weights came from, how BatchNorm was written).
    static func metadataProperties(_ checkpoint: Checkpoint, graph: UNetGraph, options: ONNXExportOptions)
        -> [(String, String)]
    {
        let metadata = checkpoint.metadata
        var properties: [(String, String)] = [
            ("unet_ckpt.architecture", json(checkpoint.architecture)),
            ("unet_ckpt.metadata", json(metadata)),
        ]
        if let classes = metadata.classes { properties.append(("classes", json(classes))) }
        if let input = metadata.input { properties.append(("input_normalization", json(input))) }
        if let masks = metadata.maskValues { properties.append(("mask_values", json(masks))) }
        if let source = metadata.source { properties.append(("source", json(source))) }
        if graph.batchNormCount > 0 {
            // Only BatchNorms with a scale and shift right after a convolution fold.
            let folded = graph.foldedBatchNormCount
            let state =
                folded == 0
                ? "kept" : folded == graph.batchNormCount ? "folded" : "folded \(folded) of \(graph.batchNormCount)"
            properties.append(("batchnorm", state))
        }
        properties.append(("output", outputDescription(checkpoint.network)))
        return properties
    }

    /// What the default output holds, from the node giving it.
    private static func outputDescription(_ network: UNetNetwork) -> String {
        guard case .activation(let activation) = network.nodes[network.output].operation else { return "logits" }
        switch activation.kind {
        case .sigmoid: return "sigmoid probabilities"
        case .softmax: return "softmax probabilities over axis 1"
        default: return "\(activation.kind.rawValue) activations"
        }
    }

    private static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    /// `height`, `width`, or `depth`, `height`, `width` for volumes.
    static func spatialAxisNames(_ dims: Int) -> [String] {
        dims == 3 ? ["depth", "height", "width"] : ["height", "width"]
    }

    /// Whether every valid input side along `axis` gives node `node` the same side (same padding
    /// and pad-to-match), so the output can share the input's dimension name.
    static func keepsInputSide(_ network: UNetNetwork, node: Int, axis: Int) -> Bool {
        guard let minimum = network.minimumInputSide(axis: axis) else { return false }
        let span = min(2 * network.period(axis: axis), 256)
        return (minimum...(minimum + span)).allSatisfy { side in
            network.sides(forInputSide: side, axis: axis).map { $0[node] == side } ?? true
        }
    }

    /// A dimension of a graph input or output.
    private enum Dimension {
        case fixed(Int)
        case symbolic(String)
    }

    /// A float32 tensor value with its dimensions.
    private static func valueInfo(_ name: String, _ dimensions: [Dimension]) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        shape.dim = dimensions.map { dimension in
            var dim = Onnx_TensorShapeProto.Dimension()
            switch dimension {
            case .fixed(let size): dim.dimValue = Int64(size)
            case .symbolic(let name): dim.dimParam = name
            }
            return dim
        }
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensor
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }
}
