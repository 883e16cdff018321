import Foundation
import UNetCheckpoint
import UNetInference

/// Writing masks, probabilities and overlays, chosen by the file extension, always atomically
/// (`AtomicWrite`: libpng and libtiff write a temporary file beside the destination, which is
/// then synced and renamed; on failure the destination is left as it was).
public enum ImageOutput {
    public enum Kind: Sendable {
        case png, tiff, npy
    }

    /// `.png`, `.tif`/`.tiff` or `.npy` (any case); nil for anything else.
    public static func kind(of path: String) -> Kind? {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "png": .png
        case "tif", "tiff": .tiff
        case "npy": .npy
        default: nil
        }
    }

    /// Writes a raster as PNG (one page) or TIFF (any number of pages), by the extension.
    public static func write(_ raster: Raster, to path: String, description: String? = nil) throws {
        let kind = kind(of: path)
        precondition(kind == .png || kind == .tiff, "not an image path")
        precondition(kind == .tiff || raster.pages == 1, "a PNG holds one page")
        try AtomicWrite.replace(path) { temporary in
            if kind == .png {
                try PNGFile.write(raster, to: temporary)
            } else {
                try TIFFFile.write(raster, to: temporary, description: description)
            }
        }
    }

    /// Writes probabilities (NCHW, one sample per page): `.npy` as float32 `[pages, classes, H, W]`,
    /// or a float32 TIFF of `pages × classes` single-channel pages, page `p · classes + k` being
    /// class `k` of input page `p`.
    public static func writeProbabilities(_ probabilities: FeatureMap, to path: String) throws {
        switch kind(of: path) {
        case .npy:
            let data = NumpyArray(probabilities).encoded()
            try AtomicWrite.write(data, to: path)
        case .tiff:
            var bytes = [UInt8](repeating: 0, count: probabilities.values.count * 4)
            bytes.withUnsafeMutableBytes { raw in
                probabilities.values.withUnsafeBytes { raw.copyMemory(from: $0) }
            }
            let raster = Raster(
                pages: probabilities.batch * probabilities.channels, height: probabilities.height,
                width: probabilities.width, channels: 1, sampleType: .float32, bytes: bytes)
            try write(
                raster, to: path,
                description: "unet-ckpt probabilities: page p*\(probabilities.channels)+k is class k of input page p "
                    + "(\(probabilities.batch) input page\(probabilities.batch == 1 ? "" : "s"), "
                    + "\(probabilities.channels) classes)")
        default:
            preconditionFailure("probabilities are .npy or .tif")
        }
    }
}
