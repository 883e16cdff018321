import Foundation
import UNetCheckpoint
import UNetImages
import UNetInference

/// A package's pre- and post-processing and its channels, from the checkpoint's metadata and
/// head: the input normalisation `x' = (x·scale − mean[c]) / std[c]` as `scale_linear` with
/// `gain = scale/std[c]`, `offset = −mean[c]/std[c]` (per channel along `channel` when the
/// channels differ); a `sigmoid` or `softmax` over the channels when the network's output is
/// logits (`Segmentation`), nothing when the network ends with its activation.
struct Processing {
    let gains: [Double]
    let offsets: [Double]
    let preprocessing: [YAMLValue]
    let postprocessing: [YAMLValue]
    let inputChannelNames: [String]
    let outputChannelNames: [String]
    let segmentation: Segmentation
    let inputDescription: String
    let outputDescription: String

    init(network: UNetNetwork, metadata: CheckpointMetadata) throws(BioImageExportError) {
        let channels = network.architecture.inChannels
        let normalization = metadata.input
        let scale = normalization?.scale ?? 1
        func perChannel(_ values: [Double]?, _ fallback: Double, _ what: String) throws(BioImageExportError) -> [Double]
        {
            let values = values ?? [fallback]
            if values.count == 1 { return Array(repeating: values[0], count: channels) }
            guard values.count == channels else {
                throw BioImageExportError(
                    "metadata.input.\(what) has \(values.count) values for \(channels) input channels")
            }
            return values
        }
        let means = try perChannel(normalization?.mean, 0, "mean")
        let stds = try perChannel(normalization?.std, 1, "std")
        guard scale.isFinite, scale != 0, stds.allSatisfy({ $0.isFinite && $0 != 0 }), means.allSatisfy(\.isFinite)
        else {
            throw BioImageExportError("metadata.input has a zero or non-finite scale or std")
        }
        gains = stds.map { scale / $0 }
        offsets = zip(means, stds).map { -$0 / $1 + 0 }  // + 0: no −0.0 in the description
        let identity = gains.allSatisfy { $0 == 1 } && offsets.allSatisfy { $0 == 0 }
        if identity {
            preprocessing = []
        } else if Set(gains).count == 1 && Set(offsets).count == 1 {
            preprocessing = [
                .map([
                    ("id", .string("scale_linear")),
                    ("kwargs", .map([("gain", .number(gains[0])), ("offset", .number(offsets[0]))])),
                ])
            ]
        } else {
            preprocessing = [
                .map([
                    ("id", .string("scale_linear")),
                    (
                        "kwargs",
                        .map([
                            ("axis", .string("channel")), ("gain", .list(gains.map(YAMLValue.number))),
                            ("offset", .list(offsets.map(YAMLValue.number))),
                        ])
                    ),
                ])
            ]
        }
        let color = normalization?.color?.lowercased()
        inputChannelNames =
            channels == 3 && color == "rgb"
            ? ["red", "green", "blue"]
            : channels == 1 ? ["channel0"] : (0..<channels).map { "channel\($0)" }

        segmentation = Segmentation(network)
        let outputs = segmentation.channels
        if segmentation.outputIsProbability {
            postprocessing = []
        } else if segmentation.head == .sigmoid {
            postprocessing = [.map([("id", .string("sigmoid"))])]
        } else {
            postprocessing = [.map([("id", .string("softmax")), ("kwargs", .map([("axis", .string("channel"))]))])]
        }
        let classes = metadata.classes ?? []
        if classes.count == outputs {
            outputChannelNames = classes
        } else if segmentation.head == .sigmoid, classes.count == outputs + 1 {
            outputChannelNames = Array(classes.dropFirst())
        } else {
            outputChannelNames = (0..<outputs).map { "class\($0)" }
        }
        inputDescription =
            identity
            ? "the network's input as it is" : "raw intensities, normalised by scale_linear as the checkpoint records"
        let kind = segmentation.head == .sigmoid ? "sigmoid" : "softmax over the channels"
        outputDescription =
            segmentation.outputIsProbability
            ? "probabilities (the network ends with its \(kind))"
            : "probabilities: the \(kind) of the network's logits"
    }

    /// The raw input that the pre-processing turns into `input` (the probe's network input):
    /// `(x' − offset[c]) / gain[c]`, computed in double precision.
    func rawInput(_ input: Tensor) -> [Float] {
        let values = input.floatValues()
        let channels = input.shape[1]
        let plane = input.shape.dropFirst(2).reduce(1, *)
        return values.indices.map { index in
            let c = index / plane % channels
            return Float((Double(values[index]) - offsets[c]) / gains[c])
        }
    }

    /// The post-processed probe output (probabilities), or the output itself.
    func postprocessed(_ output: Tensor, network: UNetNetwork) -> [Float] {
        guard !postprocessing.isEmpty else { return output.floatValues() }
        let map = FeatureMap(
            batch: output.shape[0], channels: output.shape[1], spatial: Array(output.shape.dropFirst(2)),
            values: output.floatValues())
        return segmentation.probabilities(map).values
    }
}
