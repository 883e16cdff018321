import Foundation
import UNetInference

/// The order of a volume's three spatial axes in memory. NIfTI stores voxel `(i, j, k)` with `i`
/// fastest; a TIFF stack stores columns fastest, then rows, then pages.
public enum VolumeAxisOrder: String, Sendable, CaseIterable {
    /// `array[k][j][i]`, `i` fastest: the file's own order, no transpose. SimpleITK's
    /// `GetArrayFromImage`, nnU-Net (which reads through SimpleITK), tifffile's page stacks
    /// (`[pages, rows, columns]`).
    case zyx
    /// `array[i][j][k]`, `k` fastest: NIfTI's voxel indices as nibabel's `get_fdata()` and MONAI's
    /// `LoadImage` give them (a full transpose of the file's order).
    case ijk
}

/// How a volume's values were stored in its file.
public enum VolumeSampleType: String, Sendable {
    case uint8, int8, int16, uint16, int32, uint32, float32, float64
}

/// Where a volume came from, and what an output written "like" it keeps.
public struct VolumeGeometry: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// A NIfTI file: its header, whose geometry (qform, sform, spacings, units, dim_info,
        /// version) outputs keep.
        case nifti(NIfTIHeader)
        /// A TIFF page stack: outputs keep the page order.
        case tiff
        /// A NumPy array: no geometry beyond the shape.
        case npy
    }

    /// The file the volume was read from (outputs never replace it).
    public let file: String
    public let source: Source
    public let order: VolumeAxisOrder
    /// The spatial sizes in ``order``: `[nz, ny, nx]` for `.zyx`, `[nx, ny, nz]` for `.ijk`.
    public let spatial: [Int]

    public init(file: String, source: Source, order: VolumeAxisOrder, spatial: [Int]) {
        precondition(spatial.count == 3, "a volume has three spatial axes")
        self.file = file
        self.source = source
        self.order = order
        self.spatial = spatial
    }

    /// The spatial sizes in the file's order, slowest first: `[nz, ny, nx]` (pages, rows, columns).
    public var fileSpatial: [Int] { order == .zyx ? spatial : spatial.reversed() }
}

/// A 3-D image with one or more channels: float32 values, channel-major in C order
/// (`[channels, spatial[0], spatial[1], spatial[2]]`), the spatial axes in the order it was read
/// in (``VolumeAxisOrder``), so that it is a network input as it stands (``featureMap``).
public struct Volume: Sendable, Equatable {
    public let channels: Int
    public let sampleType: VolumeSampleType
    /// `channels × spatial[0] × spatial[1] × spatial[2]` values, the stored values with any
    /// scaling the file records applied (NIfTI's `scl_slope`, `scl_inter`).
    public var values: [Float]
    public let geometry: VolumeGeometry

    public init(channels: Int, sampleType: VolumeSampleType, values: [Float], geometry: VolumeGeometry) {
        precondition(values.count == channels * geometry.spatial.reduce(1, *), "values do not fit the shape")
        self.channels = channels
        self.sampleType = sampleType
        self.values = values
        self.geometry = geometry
    }

    /// The pages of an image as a volume: `pages` is the depth, each page's channels are the
    /// volume's channels (1 for grey, 3 for RGB).
    public init(_ image: PixelImage, order: VolumeAxisOrder, file: String = "") {
        let fileSpatial = [image.pages, image.height, image.width]
        let plane = image.height * image.width
        var values = image.values
        if image.channels > 1 {  // [pages, channels, plane] → [channels, pages, plane]
            for p in 0..<image.pages {
                for c in 0..<image.channels {
                    let source = (p * image.channels + c) * plane, target = (c * image.pages + p) * plane
                    values.replaceSubrange(target..<(target + plane), with: image.values[source..<(source + plane)])
                }
            }
        }
        if order == .ijk { values = VolumeAxes.reversed(values, channels: image.channels, spatial: fileSpatial) }
        let type: VolumeSampleType =
            switch image.sampleType {
            case .uint8: .uint8
            case .uint16: .uint16
            case .float32: .float32
            }
        self.init(
            channels: image.channels, sampleType: type, values: values,
            geometry: VolumeGeometry(
                file: file, source: .tiff, order: order,
                spatial: order == .zyx ? fileSpatial : fileSpatial.reversed()))
    }

    /// The spatial sizes in ``order``.
    public var spatial: [Int] { geometry.spatial }
    public var order: VolumeAxisOrder { geometry.order }

    /// The volume as a network input: batch 1, `[1, channels] + spatial`.
    public var featureMap: FeatureMap {
        FeatureMap(batch: 1, channels: channels, spatial: spatial, values: values)
    }

    /// `7×9×11 (zyx), 2 channels, int16`.
    public var summary: String {
        spatial.map(String.init).joined(separator: "×") + " (\(order.rawValue))"
            + (channels > 1 ? ", \(channels) channels" : "") + ", \(sampleType.rawValue)"
    }

    /// Checks a volume's shape against ``ImageLimits`` before it is allocated; nil when it fits.
    static func sizeProblem(channels: Int, spatial: [Int]) -> String? {
        let shape = spatial.map(String.init).joined(separator: " × ")
        if channels < 1 || spatial.contains(where: { $0 < 1 }) { return "an empty volume (\(channels) × \(shape))" }
        if spatial.contains(where: { $0 > ImageLimits.maxSide }) {
            return "\(shape) voxels: a side above \(ImageLimits.maxSide) is not supported"
        }
        var count = channels
        for side in spatial {
            let (product, overflow) = count.multipliedReportingOverflow(by: side)
            guard !overflow, product <= ImageLimits.maxSamples else {
                return "\(channels) × \(shape) values: more than 2^30 (4 GiB as float32) are not supported"
            }
            count = product
        }
        return nil
    }
}

/// Reordering the spatial axes of channel-major values.
enum VolumeAxes {
    /// Reverses the three spatial axes of every channel: `[C, A, B, D]` becomes `[C, D, B, A]`
    /// (`zyx` ↔ `ijk`; the same operation both ways). `spatial` is `[A, B, D]`.
    static func reversed<T>(_ values: [T], channels: Int, spatial: [Int]) -> [T] {
        let (a, b, d) = (spatial[0], spatial[1], spatial[2])
        let volume = a * b * d
        precondition(values.count == channels * volume)
        guard let first = values.first else { return values }
        var out = [T](repeating: first, count: values.count)
        values.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for c in 0..<channels {
                    let base = c * volume
                    for x in 0..<a {
                        for y in 0..<b {
                            let row = base + (x * b + y) * d
                            for z in 0..<d { target[base + (z * b + y) * a + x] = source[row + z] }
                        }
                    }
                }
            }
        }
        return out
    }
}

extension Normalization {
    /// A volume as a network input (batch 1), normalised per channel as ``apply(_:page:)``.
    public func apply(_ volume: Volume) -> FeatureMap {
        precondition(problem(channels: volume.channels) == nil)
        var map = volume.featureMap
        let size = map.values.count / max(volume.channels, 1)
        for c in 0..<volume.channels {
            let (m, s) = (mean.count == 1 ? mean[0] : mean[c], std.count == 1 ? std[0] : std[c])
            for i in (c * size)..<((c + 1) * size) { map.values[i] = Float((Double(map.values[i]) * scale - m) / s) }
        }
        return map
    }
}
