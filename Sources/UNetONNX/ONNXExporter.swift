import Foundation
import SwiftProtobuf
import UNetCheckpoint

/// Writes a checkpoint's whole network as an ONNX model: every layer the inference core runs,
/// the weights as float32 initializers under their canonical keys, input `input` `[batch, C,
/// height, width]` and output `output`, with the batch and the spatial sizes dynamic
/// (docs/onnx.md).
public enum ONNXExporter {
    /// The ONNX model of `checkpoint`.
    public static func model(for checkpoint: Checkpoint, options: ONNXExportOptions = ONNXExportOptions())
        throws(ONNXExportError) -> Onnx_ModelProto
    {
        guard ONNXExportOptions.supportedOpsets.contains(options.opset) else {
            let range = ONNXExportOptions.supportedOpsets
            throw ONNXExportError(
                "opset \(options.opset) is not supported: choose one within \(range.lowerBound)-\(range.upperBound)")
        }
        let architecture = checkpoint.architecture
        var builder = UNetGraph(checkpoint: checkpoint, options: options)
        let (nodes, initializers) = builder.build()

        var graph = Onnx_GraphProto()
        graph.name = architecture.name ?? "unet"
        graph.node = nodes
        graph.initializer = initializers
        let sameSize = outputMatchesInput(architecture)
        graph.input = [
            valueInfo(
                UNetGraph.inputName,
                [.symbolic("batch"), .fixed(architecture.inChannels), .symbolic("height"), .symbolic("width")])
        ]
        graph.output = [
            valueInfo(
                UNetGraph.outputName,
                [
                    .symbolic("batch"), .fixed(architecture.outChannels),
                    .symbolic(sameSize ? "height" : "output_height"), .symbolic(sameSize ? "width" : "output_width"),
                ])
        ]

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
        model.metadataProps = metadataProperties(checkpoint, options: options).map { key, value in
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
    static func metadataProperties(_ checkpoint: Checkpoint, options: ONNXExportOptions) -> [(String, String)] {
        let metadata = checkpoint.metadata
        var properties: [(String, String)] = [
            ("unet_ckpt.architecture", json(checkpoint.architecture)),
            ("unet_ckpt.metadata", json(metadata)),
        ]
        if let classes = metadata.classes { properties.append(("classes", json(classes))) }
        if let input = metadata.input { properties.append(("input_normalization", json(input))) }
        if let masks = metadata.maskValues { properties.append(("mask_values", json(masks))) }
        if let source = metadata.source { properties.append(("source", json(source))) }
        if checkpoint.architecture.norm.kind == .batch {
            properties.append(("batchnorm", options.foldBatchNorm ? "folded" : "kept"))
        }
        properties.append(("output", outputDescription(checkpoint.architecture.finalActivation)))
        return properties
    }

    private static func outputDescription(_ activation: UNetArchitecture.FinalActivation) -> String {
        switch activation {
        case .none: "logits"
        case .sigmoid: "sigmoid probabilities"
        case .softmax: "softmax probabilities over axis 1"
        }
    }

    private static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    /// Whether every valid input side gives an output of the same side (same padding and
    /// pad-to-match), so the output can share the input's `height` and `width` names.
    static func outputMatchesInput(_ architecture: UNetArchitecture) -> Bool {
        guard let minimum = architecture.minimumInputSide else { return false }
        return (minimum...(minimum + (4 << architecture.depth))).allSatisfy { side in
            architecture.outputSide(forInputSide: side).map { $0 == side } ?? true
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
