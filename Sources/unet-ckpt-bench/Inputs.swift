import Foundation
import UNetCheckpoint
import UNetFormats
import UNetInference

/// The benchmark's inputs, made at run time in a scratch folder (nothing large is committed).
struct Inputs {
    /// The paper's U-Net (1 channel in, 2 classes, widths 64…1024): 31,030,658 float32 values.
    let paper: Checkpoint
    let paperPath: String
    /// milesial/Pytorch-UNet at full size (3 channels, 2 classes, transposed up-sampling), as a
    /// `.pth` saved by torch itself when the peers' Python is there.
    let milesialPath: String
    let milesialSavedByTorch: Bool
    /// A seeded `[1, 1, side, side]` image, in memory and as `.npy` for the peers.
    let image: FeatureMap
    let imagePath: String

    init(folder: String, side: Int, peers: Peers?) throws {
        paper = try Self.seeded(.paper(), seed: 1)
        paperPath = folder + "/paper.h5"
        try paper.write(to: paperPath)

        let milesial = try Self.seeded(.milesial(inChannels: 3, classes: 2), seed: 2)
        let ours = folder + "/milesial-written-by-unet-ckpt.pth"
        try CheckpointExporter.write(milesial, to: ours, format: .pytorch, layout: "milesial")
        milesialPath = folder + "/milesial.pth"
        if let peers {
            _ = try peers.call(["resave", ours, milesialPath])
            milesialSavedByTorch = true
        } else {
            try FileManager.default.copyItem(atPath: ours, toPath: milesialPath)
            milesialSavedByTorch = false
        }

        var generator = SplitMix64(seed: 3)
        image = FeatureMap(
            batch: 1, channels: 1, height: side, width: side,
            values: (0..<(side * side)).map { _ in Float(generator.nextUnit()) })
        imagePath = folder + "/image.npy"
        try NumpyArray(image).encoded().write(to: URL(fileURLWithPath: imagePath))
    }

    /// A checkpoint with He-uniform weights (so activations keep their scale through the
    /// network, as in a trained one), small biases and BatchNorm near identity.
    static func seeded(_ architecture: UNetArchitecture, seed: UInt64) throws -> Checkpoint {
        var generator = SplitMix64(seed: seed)
        var tensors: [String: Tensor] = [:]
        for spec in try architecture.network().tensorSpecs {
            let fanIn = spec.shape.count == 4 ? spec.shape.dropFirst().reduce(1, *) : 1
            let bound = spec.shape.count == 4 ? (6.0 / Double(fanIn)).squareRoot() : 0.1
            let offset: Double =
                spec.key.hasSuffix("running_var") || spec.key.hasSuffix("norm0.weight")
                    || spec.key.hasSuffix("norm1.weight") ? 1 : 0
            let values = (0..<spec.elementCount).map { _ in
                Float(offset + (generator.nextUnit() * 2 - 1) * bound)
            }
            tensors[spec.key] = Tensor(shape: spec.shape, values: values)
        }
        return try Checkpoint(architecture: architecture, tensors: tensors, metadata: CheckpointMetadata())
    }
}
