/// The overlap-tile strategy of the original U-Net paper, for images of any size.
///
/// A valid-padding network maps an input tile of side `T` to an output tile of side `O`; the
/// border lost on each side is `b = (T − O) / 2`. The image is mirrored by `b` on every side with
/// reflection (as `numpy.pad(mode="reflect")`, repeating the reflection when the pad is larger
/// than the image), extended on the right and bottom to a whole number of output tiles, cut into
/// input tiles at a stride of `O`, and the output tiles are stitched and cropped to the image size.
///
/// A same-padding network keeps the size; there the tile's outer `halo` pixels on each side are
/// discarded, so `O = T − 2·halo`, and the same procedure applies.
public struct OverlapTile: Sendable {
    public let model: UNetModel
    /// Input tile side.
    public let tile: Int
    /// Output tile side.
    public let outputTile: Int
    /// Pixels lost (valid) or discarded (same) on each side of a tile.
    public let border: Int
    /// Whether the network's own output is larger than the kept tile (same padding).
    private let cropsOutput: Bool

    /// - Parameters:
    ///   - model: the network to run.
    ///   - tile: the input tile side; it must be a valid input side of the network.
    ///   - halo: for same-padding networks, the pixels discarded on each side of every tile
    ///     (default a quarter of the tile); ignored for valid-padding networks.
    public init(model: UNetModel, tile: Int, halo: Int? = nil) throws(InferenceError) {
        let network = model.network
        guard network.architecture.spatialDims == 2, let size = network.outputSize(forInputSize: [tile, tile]),
            size[0] == size[1]
        else {
            let nearest = network.nearestValidInputSides(to: tile, axis: 0)
            let options = [nearest.below, nearest.above].compactMap { $0 }.map(String.init).joined(separator: " or ")
            throw InferenceError(message: "the tile side \(tile) is not a valid input side (nearest valid: \(options))")
        }
        self.model = model
        self.tile = tile
        let output = size[0]
        if output < tile {
            outputTile = output
            border = (tile - output) / 2
            cropsOutput = false
        } else {
            let halo = halo ?? tile / 4
            guard halo >= 0, tile - 2 * halo >= 1 else {
                throw InferenceError(message: "a halo of \(halo) leaves nothing of a \(tile)-pixel tile")
            }
            outputTile = tile - 2 * halo
            border = halo
            cropsOutput = true
        }
    }

    /// The number of tiles an image of `height × width` needs.
    public func tileCount(height: Int, width: Int) -> Int {
        ((height + outputTile - 1) / outputTile) * ((width + outputTile - 1) / outputTile)
    }

    /// Runs the network over `image` tile by tile; `progress(done, total)` is called after each tile.
    public func predict(_ image: FeatureMap, progress: ((Int, Int) -> Void)? = nil) throws(InferenceError) -> FeatureMap
    {
        guard image.channels == model.architecture.inChannels else {
            throw InferenceError(
                message: "the network takes \(model.architecture.inChannels) channels, the input has \(image.channels)")
        }
        let rows = (image.height + outputTile - 1) / outputTile
        let columns = (image.width + outputTile - 1) / outputTile
        let classes = model.network.outputChannels
        var canvas = FeatureMap(
            batch: image.batch, channels: classes, height: rows * outputTile, width: columns * outputTile)
        var window = FeatureMap(batch: image.batch, channels: image.channels, height: tile, width: tile)
        let total = rows * columns
        var done = 0
        for row in 0..<rows {
            for column in 0..<columns {
                // The window's top-left corner in image coordinates (the padded image starts at −border).
                let top = row * outputTile - border, left = column * outputTile - border
                for plane in 0..<(image.batch * image.channels) {
                    for y in 0..<tile {
                        let sy = Self.reflect(top + y, image.height)
                        let source = plane * image.plane + sy * image.width
                        let target = plane * tile * tile + y * tile
                        for x in 0..<tile {
                            window.values[target + x] = image.values[source + Self.reflect(left + x, image.width)]
                        }
                    }
                }
                var output = try model.predict(window)
                if cropsOutput {
                    output = Resampling.crop(output, top: border, left: border, height: outputTile, width: outputTile)
                }
                for plane in 0..<(image.batch * classes) {
                    for y in 0..<outputTile {
                        let target = plane * canvas.plane + (row * outputTile + y) * canvas.width + column * outputTile
                        let source = plane * output.plane + y * outputTile
                        canvas.values.replaceSubrange(
                            target..<(target + outputTile), with: output.values[source..<(source + outputTile)])
                    }
                }
                done += 1
                progress?(done, total)
            }
        }
        return Resampling.crop(canvas, top: 0, left: 0, height: image.height, width: image.width)
    }

    /// The index `i` mirrored into `0 ..< n` without repeating the edge (numpy's "reflect"),
    /// repeated as often as needed.
    static func reflect(_ i: Int, _ n: Int) -> Int {
        guard n > 1 else { return 0 }
        let period = 2 * (n - 1)
        var m = i % period
        if m < 0 { m += period }
        return m < n ? m : period - m
    }
}
