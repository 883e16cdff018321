import Foundation
import UNetCheckpoint
import UNetInference

/// Why an image could not be read or written; the description is one line naming the file.
public struct ImageError: UNetCkptError {
    /// What kind of failure: `.unsupported` (a readable image in a form this library does not
    /// take: palette, alpha, 1-bit, …), `.malformed` (not an image, or a damaged one),
    /// `.writeFailed` (the output could not be written).
    public typealias Kind = ErrorCode

    public let kind: Kind
    public let file: String?
    public let message: String

    public init(_ kind: Kind, file: String?, _ message: String) {
        self.kind = kind
        self.file = file
        self.message = message
    }

    public var code: ErrorCode { kind }
}

/// What images may hold, checked before anything is allocated.
public enum ImageLimits {
    /// The largest width or height.
    public static let maxSide = 65_536
    /// The most pages of a multi-page TIFF.
    public static let maxPages = 65_535
    /// The most samples (pages × channels × height × width) of one image: 4 GiB as float32.
    public static let maxSamples = 1 << 30
}

/// The pixels of a PNG or TIFF file as stored (no colour or gamma conversion): one or more pages
/// of the same size, 1 (grey) or 3 (RGB) channels of 8- or 16-bit unsigned integers or float32.
/// Values keep their stored scale (0…255, 0…65535, or the floats) as `Float`, which holds every
/// 8- and 16-bit value exactly.
public struct PixelImage: Sendable, Equatable {
    public enum SampleType: String, Sendable {
        case uint8, uint16, float32

        /// `8-bit`, `16-bit`, `float32`.
        public var label: String {
            switch self {
            case .uint8: "8-bit"
            case .uint16: "16-bit"
            case .float32: "float32"
            }
        }
    }

    public let pages: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    public let sampleType: SampleType
    /// `pages × channels × height × width` values, page-major and planar (NCHW).
    public var values: [Float]

    public init(pages: Int, channels: Int, height: Int, width: Int, sampleType: SampleType, values: [Float]) {
        precondition(values.count == pages * channels * height * width, "values do not fit the shape")
        self.pages = pages
        self.channels = channels
        self.height = height
        self.width = width
        self.sampleType = sampleType
        self.values = values
    }

    /// Reads a PNG or TIFF file, recognised by its first bytes (the extension does not matter).
    public init(contentsOf path: String) throws(ImageError) {
        switch try Self.kind(of: path) {
        case .png: self = try PNGFile.read(path)
        case .tiff: self = try TIFFFile.read(path)
        }
    }

    enum FileKind { case png, tiff }

    static func kind(of path: String) throws(ImageError) -> FileKind {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ImageError(.malformed, file: path, "cannot open the file")
        }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 8)) ?? Data())
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if head.starts(with: [0x49, 0x49, 0x2A, 0x00]) || head.starts(with: [0x4D, 0x4D, 0x00, 0x2A])
            || head.starts(with: [0x49, 0x49, 0x2B, 0x00]) || head.starts(with: [0x4D, 0x4D, 0x00, 0x2B])
        {
            return .tiff
        }
        throw ImageError(.malformed, file: path, "neither a PNG nor a TIFF file (by its first bytes)")
    }

    /// `100×130, 3 pages, grey, 16-bit`.
    public var summary: String {
        "\(width)×\(height)" + (pages > 1 ? ", \(pages) pages" : "") + ", " + (channels == 3 ? "RGB" : "grey")
            + ", " + sampleType.label
    }

    /// Values per page.
    public var pageSize: Int { channels * height * width }

    /// One page's stored values, planar (channels × height × width).
    public func page(_ index: Int) -> ArraySlice<Float> {
        values[(index * pageSize)..<((index + 1) * pageSize)]
    }

    /// Checks a shape against ``ImageLimits`` before it is allocated; nil when it fits.
    static func sizeProblem(pages: Int, channels: Int, height: Int, width: Int) -> String? {
        if width < 1 || height < 1 { return "an empty image (\(width)×\(height))" }
        if width > ImageLimits.maxSide || height > ImageLimits.maxSide {
            return "\(width)×\(height) pixels: a side above \(ImageLimits.maxSide) is not supported"
        }
        if pages > ImageLimits.maxPages { return "\(pages) pages: more than \(ImageLimits.maxPages) are not supported" }
        let (samples, overflow) = (pages * channels * height).multipliedReportingOverflow(by: width)
        if overflow || samples > ImageLimits.maxSamples {
            return "\(pages) × \(channels) × \(height) × \(width) samples: more than 2^30 are not supported"
        }
        return nil
    }
}

/// Pixels to write: `pages` of `height × width × channels` samples, interleaved (RGBRGB…), in the
/// machine's byte order.
public struct Raster: Sendable {
    public let pages: Int
    public let height: Int
    public let width: Int
    /// 1 (grey) or 3 (RGB).
    public let channels: Int
    public let sampleType: PixelImage.SampleType
    public var bytes: [UInt8]

    public init(pages: Int, height: Int, width: Int, channels: Int, sampleType: PixelImage.SampleType, bytes: [UInt8]) {
        precondition(bytes.count == pages * height * width * channels * sampleType.byteCount, "bytes do not fit")
        self.pages = pages
        self.height = height
        self.width = width
        self.channels = channels
        self.sampleType = sampleType
        self.bytes = bytes
    }

    /// Bytes per page.
    var pageBytes: Int { height * width * channels * sampleType.byteCount }
}

extension PixelImage.SampleType {
    var byteCount: Int {
        switch self {
        case .uint8: 1
        case .uint16: 2
        case .float32: 4
        }
    }
}
