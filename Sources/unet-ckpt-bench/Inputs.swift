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
            try? FileManager.default.removeItem(atPath: milesialPath)  // a --scratch folder of an earlier run
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

/// The 3-D cases' network: a 3d_fullres-like nnU-Net PlainConvUNet made and seeded by
/// dynamic-network-architectures in the peers' process (its state dict saved by torch), converted
/// to unet-ckpt and exported to ONNX by `unet-ckpt convert` itself. Made once per scratch folder
/// (so `--scratch` of an earlier run has it without the peers).
struct NNUNetInputs {
    let state: String
    let path: String
    let onnx: String
    let checkpoint: Checkpoint

    /// Nil without the peers when the folder has no network yet.
    init?(folder: String, tool: String, peers: Peers?) throws {
        (state, path, onnx) = (folder + "/nnunet.pth", folder + "/nnunet.h5", folder + "/nnunet.onnx")
        if !FileManager.default.fileExists(atPath: onnx) {
            guard let peers else { return nil }
            try peers.call(["nnunet-make", state])
            for (source, destination) in [(state, path), (path, onnx)] {
                let result = try runProcess(tool, ["convert", source, destination])
                guard result.status == 0 else {
                    throw BenchmarkError("unet-ckpt convert \(source) failed: \(result.standardError.suffix(500))")
                }
            }
        }
        checkpoint = try CheckpointFile(path: path).read()
    }

    /// A seeded `[1, 1, side, side, side]` volume in −1…1, in memory and as `.npy` for the peers.
    static func volume(side: Int, folder: String, name: String) throws -> (FeatureMap, String) {
        var generator = SplitMix64(seed: 5)
        let volume = FeatureMap(
            batch: 1, channels: 1, spatial: [side, side, side],
            values: (0..<(side * side * side)).map { _ in Float(generator.nextUnit() * 2 - 1) })
        let path = folder + "/\(name).npy"
        try NumpyArray(volume).encoded().write(to: URL(fileURLWithPath: path))
        return (volume, path)
    }
}
