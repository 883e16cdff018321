/// A mask drawn over its image: the image as 8-bit grey (or RGB), and every pixel of a class
/// `k > 0` blended with the class colour, `out = round(0.55 · image + 0.45 · colour)` per
/// channel; class 0 (background) shows the image unchanged.
///
/// The image is shown as stored when it is 8-bit; 16-bit and float32 pages are stretched
/// linearly from the page's smallest to its largest value onto 0…255 (a constant page is black).
public enum Overlay {
    /// The weight of the class colour.
    public static let alpha = 0.45

    /// The class colours, class 1 first (Sasha Trubetskoy's 20 distinct colours, without white
    /// and black); class `k` takes `palette[(k − 1) % 20]`.
    public static let palette: [(UInt8, UInt8, UInt8)] = [
        (230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (245, 130, 48),
        (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
        (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
        (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128),
    ]

    /// The colour of class `k > 0`.
    public static func colour(of k: Int) -> (UInt8, UInt8, UInt8) { palette[(k - 1) % palette.count] }

    /// The image's pages as 8-bit values, planar (as ``PixelImage/values``).
    public static func displayValues(_ image: PixelImage) -> [UInt8] {
        if image.sampleType == .uint8 { return image.values.map { UInt8($0) } }
        var out = [UInt8](repeating: 0, count: image.values.count)
        for p in 0..<image.pages {
            let page = image.page(p)
            let finite = page.filter(\.isFinite)
            let low = Double(finite.min() ?? 0), high = Double(finite.max() ?? 0)
            for (i, value) in zip(page.indices, page) {
                guard high > low, value.isFinite else { continue }
                out[i] = UInt8(max(0, min(255, ((Double(value) - low) / (high - low) * 255).rounded())))
            }
        }
        return out
    }

    /// The overlay of every page as interleaved RGB.
    public static func render(_ image: PixelImage, _ mask: ClassMask) -> Raster {
        precondition(mask.pages == image.pages && mask.height == image.height && mask.width == image.width)
        let display = displayValues(image)
        let plane = image.height * image.width
        var bytes = [UInt8](repeating: 0, count: image.pages * plane * 3)
        for p in 0..<image.pages {
            for i in 0..<plane {
                let k = Int(mask.values[p * plane + i])
                let colour = k > 0 ? colour(of: k) : (0, 0, 0)
                let tint = [colour.0, colour.1, colour.2]
                for c in 0..<3 {
                    let source = image.channels == 3 ? c : 0
                    let base = display[(p * image.channels + source) * plane + i]
                    bytes[(p * plane + i) * 3 + c] = k > 0 ? blend(base, tint[c]) : base
                }
            }
        }
        return Raster(
            pages: image.pages, height: image.height, width: image.width, channels: 3, sampleType: .uint8, bytes: bytes)
    }

    /// `round(0.55 · base + 0.45 · tint)`.
    public static func blend(_ base: UInt8, _ tint: UInt8) -> UInt8 {
        UInt8(((1 - alpha) * Double(base) + alpha * Double(tint)).rounded())
    }
}
