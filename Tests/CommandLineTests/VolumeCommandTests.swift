import Foundation
import TestSupport
import Testing
import UNetCheckpoint
import UNetImages
import UNetInference

/// `predict` on NIfTI volumes larger than the window, against MONAI's and nnU-Net's own
/// sliding-window outputs (fixtures/sliding, written by generate_sliding.py), with masks written
/// back in the input's geometry.
@Suite("Command line: volumes")
struct VolumeCommandTests {
    /// The largest absolute difference as a fraction of the reference's range.
    static func ofRange(_ output: [Float], _ expected: [Float]) -> Double {
        ProbeMaker.differenceOfRange(output, expected).relativeToRange
    }

    static func header(_ path: String, order: VolumeAxisOrder) throws -> NIfTIHeader {
        guard case .nifti(let header) = try NIfTIFile.read(path, order: order).geometry.source else {
            throw ImageError(.malformed, file: path, "not read as NIfTI")
        }
        return header
    }

    /// The geometry an output keeps: affine, codes, spacings, units.
    static func expectSameGeometry(_ output: NIfTIHeader, _ input: NIfTIHeader) {
        #expect(output.qformCode == input.qformCode && output.sformCode == input.sformCode)
        #expect(output.sform == input.sform && output.qform == input.qform)
        #expect(Array(output.pixdim.prefix(4)) == Array(input.pixdim.prefix(4)))
        #expect(Array(output.dim.prefix(4)) == [3] + Array(input.dim[1...3]))
        #expect(output.spatialUnits == input.spatialUnits)
    }

    @Test(
        "a MONAI UNet 3-D over a NIfTI volume: MONAI's sliding_window_inference within 1e-4, the mask in its geometry")
    func monai() throws {
        let directory = try TemporaryDirectory()
        let volume = Fixtures.path("sliding/monai-unet-3d.nii.gz")
        let checkpoint = Fixtures.path("libraries/monai-unet-3d-batch.pth")
        let raw = directory.file("logits.npy"), mask = directory.file("mask.nii.gz")
        let first = try runUNetCkpt(
            ["predict", checkpoint, "--input", volume, "--window", "16", "--output", raw])
        #expect(first.status == 0, "\(first.standardError)")
        #expect(first.standardError.contains("MONAI's Gaussian") && first.standardError.contains("(ijk)"))
        let expected = try NumpyArray(contentsOf: Fixtures.path("sliding/monai-unet-3d.monai.npy"))
        let output = try NumpyArray(contentsOf: raw)
        #expect(output.shape == expected.shape)
        let difference = Self.ofRange(output.values, expected.values)
        #expect(difference <= 1e-4, "\(difference) of the range")

        let second = try runUNetCkpt(
            ["predict", checkpoint, "--input", volume, "--window", "16,16,16", "--output", mask, "--threads", "1"])
        #expect(second.status == 0, "\(second.standardError)")
        Self.expectSameGeometry(try Self.header(mask, order: .ijk), try Self.header(volume, order: .ijk))
        // The classes are the argmax of MONAI's logits, voxel by voxel (in nibabel's order).
        let labels = try NIfTIFile.read(mask, order: .ijk)
        let voxels = labels.values.count
        #expect(voxels * 3 == expected.values.count)
        let argmax = (0..<voxels).map { voxel in
            (0..<3).max { expected.values[$0 * voxels + voxel] < expected.values[$1 * voxels + voxel] }!
        }
        let differing = (0..<voxels).filter { Int(labels.values[$0]) != argmax[$0] }.count
        #expect(differing == 0, "\(differing) voxels differ")
    }

    @Test("an nnU-Net 3d_fullres results folder over a NIfTI volume: nnU-Net's predictor, float16 sums and all")
    func nnunet() throws {
        let directory = try TemporaryDirectory()
        let volume = Fixtures.path("sliding/nnunet-3d.nii.gz")
        let folder = Fixtures.path(
            "libraries/nnunet/Dataset207_nnunet_plainconv_3d_anisotropic/nnUNetTrainer__nnUNetPlans__3d_fullres")
        for mirrored in [false, true] {
            let raw = directory.file("logits\(mirrored).npy")
            let result = try runUNetCkpt(
                ["predict", folder, "--input", volume, "--output", raw] + (mirrored ? ["--mirror"] : []))
            #expect(result.status == 0, "\(result.standardError)")
            #expect(result.standardError.contains("window 8×16×16 (nnU-Net's patch size)"))
            #expect(result.standardError.contains("(zyx)") && result.standardError.contains("z-score"))
            let name = mirrored ? "nnunet-3d-mirrored" : "nnunet-3d"
            let half = try NumpyArray(contentsOf: Fixtures.path("sliding/\(name).nnunet-half.npy"))
            let output = try NumpyArray(contentsOf: raw)
            #expect(output.shape == half.shape)
            // As SlidingWindowTests: equal but where a float16 rounding of a sum went the other way.
            let differing = zip(output.values, half.values).filter { $0 != $1 }.count
            #expect(differing * 100 <= half.values.count, "\(differing) values differ")
            #expect(Self.ofRange(output.values, half.values) <= 5e-4)
            // With float32 sums: nnU-Net's algorithm with float32 sums, within 1e-4.
            let accurate = directory.file("float32\(mirrored).npy")
            let second = try runUNetCkpt(
                ["predict", folder, "--input", volume, "--output", accurate, "--sums", "float32"]
                    + (mirrored ? ["--mirror"] : []))
            #expect(second.status == 0, "\(second.standardError)")
            let float32 = try NumpyArray(contentsOf: Fixtures.path("sliding/\(name).float32.npy"))
            #expect(Self.ofRange(try NumpyArray(contentsOf: accurate).values, float32.values) <= 1e-4)
        }
        let mask = directory.file("mask.nii.gz"), probabilities = directory.file("probabilities.nii.gz")
        let result = try runUNetCkpt(
            ["predict", folder, "--input", volume, "--output", mask, "--probabilities", probabilities])
        #expect(result.status == 0, "\(result.standardError)")
        let input = try Self.header(volume, order: .zyx)
        Self.expectSameGeometry(try Self.header(mask, order: .zyx), input)
        let written = try NIfTIFile.read(probabilities, order: .zyx)
        #expect(written.channels == 3 && written.spatial == [10, 34, 29])
    }

    @Test("a volume whose spacing is not the plans' gets one warning saying so")
    func spacingWarning() throws {
        let directory = try TemporaryDirectory()
        // The fixture with its x spacing (NIfTI-1 pixdim[1], bytes 80-83) doubled, uncompressed.
        let unzip = Process()
        unzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        unzip.arguments = ["-dc", Fixtures.path("sliding/nnunet-3d.nii.gz")]
        let pipe = Pipe()
        unzip.standardOutput = pipe
        try unzip.run()
        var header = pipe.fileHandleForReading.readDataToEndOfFile()
        unzip.waitUntilExit()
        let spacing = header.subdata(in: 80..<84).withUnsafeBytes { $0.loadUnaligned(as: Float.self) }
        #expect(spacing == 0.8)
        withUnsafeBytes(of: spacing * 2) { header.replaceSubrange(80..<84, with: $0) }
        let volume = directory.file("respaced.nii")
        try header.write(to: URL(fileURLWithPath: volume))
        let folder = Fixtures.path(
            "libraries/nnunet/Dataset207_nnunet_plainconv_3d_anisotropic/nnUNetTrainer__nnUNetPlans__3d_fullres")
        let result = try runUNetCkpt(["predict", folder, "--input", volume, "--output", directory.file("out.npy")])
        #expect(result.status == 0, "\(result.standardError)")
        let warnings = result.standardError.split(separator: "\n").filter { $0.hasPrefix("warning:") }
        #expect(warnings.count == 1, "\(result.standardError)")
        #expect(warnings.first?.hasPrefix("warning: the volume's spacing") == true, "\(warnings)")
    }

    @Test("the normalisation nnU-Net's plans record: CTNormalization as nnU-Net computes it")
    func ctNormalization() throws {
        let volume = try NIfTIFile.read(Fixtures.path("sliding/nnunet-3d.nii.gz"), order: .zyx)
        let properties = NNUNetSettings.IntensityProperties(
            mean: 310.5, std: 120.25, percentile00_5: 12.0, percentile99_5: 850.0)
        var map = volume.featureMap
        try IntensityNormalization.apply([.ct(properties)], to: &map)
        let expected = try NumpyArray(contentsOf: Fixtures.path("sliding/ct-normalized.npy"))
        #expect(expected.shape == volume.spatial)
        let largest = zip(map.values, expected.values).map { abs($0 - $1) }.max()!
        #expect(largest <= 1e-6, "\(largest)")
        var zscore = volume.featureMap
        try IntensityNormalization.apply([.zScore], to: &zscore)
        let reference = try NumpyArray(contentsOf: Fixtures.path("sliding/nnunet-3d.input.npy"))
        let zLargest = zip(zscore.values, reference.values).map { abs($0 - $1) }.max()!
        #expect(zLargest <= 1e-5, "\(zLargest)")
    }

    @Test("a volume the window does not fit, and a bad window, are refused with the reason")
    func refusals() throws {
        let volume = Fixtures.path("sliding/monai-unet-3d-padded.nii.gz")
        let checkpoint = Fixtures.path("libraries/monai-unet-3d-batch.pth")
        let directory = try TemporaryDirectory()
        let whole = try runUNetCkpt(["predict", checkpoint, "--input", volume, "--output", directory.file("m.nii")])
        #expect(whole.status == 2 && whole.standardError.contains("--window"), "\(whole.standardError)")
        let odd = try runUNetCkpt(
            ["predict", checkpoint, "--input", volume, "--window", "15", "--output", directory.file("m.nii")])
        #expect(odd.status == 2 && odd.standardError.contains("nearest are 12 or 16"), "\(odd.standardError)")
        let bad = try runUNetCkpt(
            ["predict", checkpoint, "--input", volume, "--overlap", "1", "--output", directory.file("m.nii")])
        #expect(bad.status == 64, "\(bad.standardError)")
        #expect(try directory.contents().isEmpty)
    }
}
