import Foundation
import UNetCheckpoint
import UNetInference

/// A volume made into the network input its checkpoint's framework would make of it: the axis
/// order the framework reads files in, nnU-Net's `transpose_forward`, and the normalisation the
/// checkpoint records (nnU-Net's schemes, or `metadata.input`), each choice said in `notes`.
public struct VolumePreparation: Sendable {
    /// The network input (batch 1).
    public var input: FeatureMap
    /// The permutation applied to the volume's spatial axes (nnU-Net's `transpose_forward`;
    /// identity otherwise); outputs go back through its inverse (``restore(_:)``).
    public let transpose: [Int]
    public var notes: [String]

    /// The axis order of the checkpoint's framework: nnU-Net reads NIfTI through SimpleITK
    /// (`zyx`); MONAI, and every other PyTorch user with nibabel, in `ijk`.
    public static func axisOrder(for metadata: CheckpointMetadata) -> VolumeAxisOrder {
        SlidingWindow.blending(of: metadata) == .nnunet ? .zyx : .ijk
    }

    /// Prepares `volume`: `normalization` (the user's `--normalize`) replaces what the checkpoint
    /// records.
    public init(_ volume: Volume, metadata: CheckpointMetadata, normalization: Normalization?) throws(ImageError) {
        var notes: [String] = []
        let nnunet = NNUNetSettings(metadata)
        var map: FeatureMap
        if let normalization {
            if let problem = normalization.problem(channels: volume.channels) {
                throw ImageError(.unsupported, file: "--normalize", problem)
            }
            map = normalization.apply(volume)
            notes.append("normalisation \(normalization)")
        } else if let nnunet {
            let schemes = try IntensityNormalization.recorded(in: nnunet, channels: volume.channels)
            map = volume.featureMap
            try IntensityNormalization.apply(schemes, to: &map)
            notes.append("nnU-Net normalisation \(schemes.map(\.description).joined(separator: ", "))")
        } else if let recorded = metadata.input {
            let normalization = Normalization(recorded)
            if let problem = normalization.problem(channels: volume.channels) {
                throw ImageError(.unsupported, file: volume.geometry.file, problem)
            }
            map = normalization.apply(volume)
            notes.append("normalisation \(normalization)")
        } else {
            map = volume.featureMap
            notes.append("the checkpoint records no input normalisation: raw values (--normalize to set one)")
        }
        var transpose = [0, 1, 2]
        if let forward = nnunet?.transposeForward, forward != Array(forward.indices), volume.order == .zyx {
            guard forward.sorted() == transpose else {
                throw ImageError(
                    .unsupported, file: "metadata.nnunet", "transpose_forward \(forward) is not a permutation")
            }
            transpose = forward
            map = Self.permuted(map, forward)
            notes.append("axes transposed by nnU-Net's transpose_forward \(forward)")
        }
        if let spacing = nnunet?.spacing, let voxel = volume.spacing, spacing.count == 3 {
            let ours = transpose.map { voxel[$0] }
            if zip(ours, spacing).contains(where: { abs($0 - $1) > 1e-3 * max(abs($1), 1e-6) }) {
                notes.append(
                    "warning: the volume's spacing \(Self.text(ours)) is not the plans' \(Self.text(spacing)); "
                        + "nnU-Net would resample it first (not done here)")
            }
        }
        input = map
        self.transpose = transpose
        self.notes = notes
    }

    /// A network output (batch 1, the prepared axes) in the volume's own axes again.
    public func restore(_ output: FeatureMap) -> FeatureMap {
        guard transpose != [0, 1, 2] else { return output }
        var inverse = [0, 0, 0]
        for (axis, source) in transpose.enumerated() { inverse[source] = axis }
        return Self.permuted(output, inverse)
    }

    /// `map` with spatial axis `a` of the result taken from axis `order[a]` of `map`.
    static func permuted(_ map: FeatureMap, _ order: [Int]) -> FeatureMap {
        let size = map.spatial
        let newSize = order.map { size[$0] }
        let strides = [size[1] * size[2], size[2], 1]
        let newStrides = order.map { strides[$0] }
        let volume = size.reduce(1, *)
        var values = map.values
        for plane in 0..<(map.batch * map.channels) {
            let base = plane * volume
            var target = base
            for a in 0..<newSize[0] {
                for b in 0..<newSize[1] {
                    let row = base + a * newStrides[0] + b * newStrides[1]
                    for c in 0..<newSize[2] {
                        values[target] = map.values[row + c * newStrides[2]]
                        target += 1
                    }
                }
            }
        }
        return FeatureMap(batch: map.batch, channels: map.channels, spatial: newSize, values: values)
    }

    static func text(_ values: [Double]) -> String {
        values.map { String(format: "%g", $0) }.joined(separator: "×")
    }
}

extension Volume {
    /// The voxel spacing along the spatial axes, in ``order`` (NIfTI's `pixdim`); nil for files
    /// that record none.
    public var spacing: [Double]? {
        guard case .nifti(let header) = geometry.source, header.pixdim.count >= 4 else { return nil }
        let ijk = header.pixdim[1...3].map { abs($0) }
        return order == .ijk ? ijk : ijk.reversed()
    }
}
