import Foundation
import UNetCheckpoint
import UNetInference

/// Volumes in and out, whatever the file: NIfTI (`.nii`, `.nii.gz`), TIFF page stacks and NumPy
/// arrays; outputs in the kind of file their name says, with the input's geometry.
public enum VolumeFile {
    public enum Kind: String, Sendable {
        case nifti, niftiGzip, tiff, npy

        /// `NIfTI`, `gzip-compressed NIfTI`, `TIFF`, `.npy`.
        public var label: String {
            switch self {
            case .nifti: "NIfTI"
            case .niftiGzip: "gzip-compressed NIfTI"
            case .tiff: "TIFF"
            case .npy: ".npy"
            }
        }
    }

    /// What kind of volume file `path` is, by its first bytes: NIfTI-1 (`n+1` at byte 344) or
    /// NIfTI-2 (`n+2` at byte 4), gzip data named `.nii.gz`, TIFF or BigTIFF, or NumPy's `.npy`.
    public static func kind(of path: String) throws(ImageError) -> Kind {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ImageError(.malformed, file: path, "cannot open the file")
        }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 348)) ?? Data())
        let gzName = path.lowercased().hasSuffix(".nii.gz")
        if head.starts(with: [0x1F, 0x8B]) {
            guard gzName else {
                throw ImageError(
                    .unsupported, file: path,
                    "gzip-compressed data; a compressed volume must be a NIfTI file named .nii.gz")
            }
            return .niftiGzip
        }
        if head.count >= 348 && head[344..<348].elementsEqual(Array("n+1".utf8) + [0])
            || head.count >= 8 && head[4..<8].elementsEqual(Array("n+2".utf8) + [0])
        {
            guard !gzName else {
                throw ImageError(.malformed, file: path, "named .nii.gz but not gzip-compressed; rename it to .nii")
            }
            return .nifti
        }
        if head.starts(with: [0x49, 0x49, 0x2A, 0x00]) || head.starts(with: [0x4D, 0x4D, 0x00, 0x2A])
            || head.starts(with: [0x49, 0x49, 0x2B, 0x00]) || head.starts(with: [0x4D, 0x4D, 0x00, 0x2B])
        {
            return .tiff
        }
        if head.starts(with: [0x93] + Array("NUMPY".utf8)) { return .npy }
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
            throw ImageError(.unsupported, file: path, "a PNG is a 2-D image; \(supported)")
        }
        throw ImageError(.malformed, file: path, "not a volume file (by its first bytes); \(supported)")
    }

    static let supported = "volumes are NIfTI (.nii, .nii.gz), TIFF page stacks or .npy arrays"

    /// The kind of file an output path asks for, by its extension: `.nii`, `.nii.gz`, `.tif` or
    /// `.tiff`, `.npy` (any case); nil for anything else.
    public static func outputKind(of path: String) -> Kind? {
        let lower = path.lowercased()
        if lower.hasSuffix(".nii.gz") { return .niftiGzip }
        if lower.hasSuffix(".nii") { return .nifti }
        if lower.hasSuffix(".tif") || lower.hasSuffix(".tiff") { return .tiff }
        if lower.hasSuffix(".npy") { return .npy }
        return nil
    }

    /// Reads a volume with its spatial axes in `order`:
    /// - NIfTI: see ``NIfTIFile/read(_:order:)``;
    /// - TIFF: the pages are the depth (`[pages, rows, columns]` for `.zyx`); grey pages give one
    ///   channel, RGB pages (contiguous or planar) three;
    /// - `.npy` (float32, float64 or float16): `[D, H, W]`, `[C, D, H, W]` or `[1, C, D, H, W]`,
    ///   taken to be in `order` already (nothing is transposed); read as float32.
    public static func read(_ path: String, order: VolumeAxisOrder) throws(ImageError) -> Volume {
        switch try kind(of: path) {
        case .nifti, .niftiGzip:
            return try NIfTIFile.read(path, order: order)
        case .tiff:
            return Volume(try PixelImage(contentsOf: path), order: order, file: path)
        case .npy:
            let array: NumpyArray
            do {
                array = try NumpyArray(contentsOf: path)
            } catch {
                let text =
                    error.message.hasPrefix(path + ": ")
                    ? String(error.message.dropFirst(path.count + 2)) : error.message
                throw ImageError(.malformed, file: path, text)
            }
            let shape = array.shape
            guard (3...5).contains(shape.count), shape.count < 5 || shape[0] == 1 else {
                throw ImageError(
                    .unsupported, file: path,
                    "an array of shape \(shape); a volume is [D, H, W], [C, D, H, W] or [1, C, D, H, W]")
            }
            let spatial = Array(shape.suffix(3))
            let channels = shape.count == 3 ? 1 : shape[shape.count - 4]
            if let problem = Volume.sizeProblem(channels: channels, spatial: spatial) {
                throw ImageError(.unsupported, file: path, problem)
            }
            return Volume(
                channels: channels, sampleType: .float32, values: array.values,
                geometry: VolumeGeometry(file: path, source: .npy, order: order, spatial: spatial))
        }
    }

    /// Writes a mask (`pages × height × width` = the geometry's spatial sizes, in its order) in the
    /// kind of file the name says: NIfTI (``NIfTIFile/writeMask(_:like:to:)``, with the input's
    /// geometry when it was NIfTI) or a TIFF page stack in the input's page order (8-bit, 16-bit
    /// above 256 classes). Atomic; never replaces the volume's own file.
    public static func writeMask(_ mask: ClassMask, like geometry: VolumeGeometry, to path: String)
        throws(ImageError)
    {
        precondition([mask.pages, mask.height, mask.width] == geometry.spatial, "the mask does not fit the volume")
        switch outputKind(of: path) {
        case .nifti, .niftiGzip:
            try NIfTIFile.writeMask(mask, like: geometry, to: path)
        case .tiff:
            let s = geometry.fileSpatial
            let labels =
                geometry.order == .zyx
                ? mask.values : VolumeAxes.reversed(mask.values, channels: 1, spatial: geometry.spatial)
            let pages = ClassMask(pages: s[0], height: s[1], width: s[2], classCount: mask.classCount, values: labels)
            try guarded(path, source: geometry.file) { try ImageOutput.write(pages.raster, to: path) }
        default:
            preconditionFailure("a volume mask is .nii, .nii.gz, .tif or .tiff")
        }
    }

    /// Writes probabilities (`[1, classes] + the geometry's spatial sizes`, in its order) in the
    /// kind of file the name says: NIfTI (float32 `x, y, z, class`, the input's geometry), a
    /// float32 TIFF whose page `p · classes + k` is class `k` of input page `p` (as for images),
    /// or `.npy` (`[1, classes] + spatial`, in the volume's order). Atomic; never replaces the
    /// volume's own file.
    public static func writeProbabilities(_ probabilities: FeatureMap, like geometry: VolumeGeometry, to path: String)
        throws(ImageError)
    {
        precondition(
            probabilities.batch == 1 && probabilities.spatial == geometry.spatial,
            "the probabilities do not fit the volume")
        switch outputKind(of: path) {
        case .nifti, .niftiGzip:
            try NIfTIFile.writeProbabilities(probabilities, like: geometry, to: path)
        case .tiff:
            let s = geometry.fileSpatial
            let classes = probabilities.channels, plane = s[1] * s[2]
            let fileOrder =
                geometry.order == .zyx
                ? probabilities.values
                : VolumeAxes.reversed(probabilities.values, channels: classes, spatial: geometry.spatial)
            var pages = FeatureMap(batch: s[0], channels: classes, height: s[1], width: s[2])
            for k in 0..<classes {  // [classes, pages, plane] → [pages, classes, plane]
                for p in 0..<s[0] {
                    let source = (k * s[0] + p) * plane, target = (p * classes + k) * plane
                    pages.values.replaceSubrange(target..<(target + plane), with: fileOrder[source..<(source + plane)])
                }
            }
            try guarded(path, source: geometry.file) { try ImageOutput.writeProbabilities(pages, to: path) }
        case .npy:
            try guarded(path, source: geometry.file) {
                try AtomicWrite.write(NumpyArray(probabilities).encoded(), to: path)
            }
        case nil:
            preconditionFailure("volume probabilities are .nii, .nii.gz, .tif, .tiff or .npy")
        }
    }

    /// Runs a write of `path`, refusing to replace the input `source`, with its errors as ``ImageError``.
    static func guarded(_ path: String, source: String, _ write: () throws -> Void) throws(ImageError) {
        var a = stat(), b = stat()
        if !source.isEmpty, stat(path, &a) == 0, stat(source, &b) == 0, a.st_dev == b.st_dev, a.st_ino == b.st_ino {
            throw ImageError(.writeFailed, file: path, "this is the input volume; an output never replaces its input")
        }
        do {
            try write()
        } catch let error as ImageError {
            throw error
        } catch let error as CheckpointError {
            throw ImageError(.writeFailed, file: path, error.message)
        } catch {
            throw ImageError(.writeFailed, file: path, "\(error)")
        }
    }
}
