import Foundation
import UNetCheckpoint

/// Sliding-window prediction of a same-padding network over an image or volume of any size, as
/// MONAI's `sliding_window_inference(mode="gaussian")` and nnU-Net v2's predictor do it.
///
/// Windows of the network's input size overlap; each window's output is weighted by a Gaussian
/// importance map (high in the middle, low at the window's border) and the weighted outputs are
/// summed and divided by the summed weights. A volume smaller than the window along an axis is
/// padded with zeros on both sides (half before, the rest after) and the output cropped back.
/// With ``mirrorAxes`` every window is also run flipped along each non-empty combination of those
/// axes and the outputs, flipped back, are averaged (nnU-Net's test-time mirroring).
///
/// Only the windows and the output are held: the input is never copied whole, padded or not.
/// A 2-D network over a 3-D input runs slice by slice along the first axis (nnU-Net's 2d
/// configuration on a volume).
public struct SlidingWindow: Sendable {
    /// Whose window placement and importance map to follow: the two frameworks differ slightly.
    public enum Blending: String, Sendable, CaseIterable {
        /// MONAI: windows every ⌊window · (1 − overlap)⌋ voxels, the last moved back to end at the
        /// border; a Gaussian centred at (window − 1)/2 with σ = window/8, in float32, raised to at
        /// least max(its minimum, 0.001).
        case monai
        /// nnU-Net v2: ⌈(size − window) / (window · (1 − overlap))⌉ + 1 windows spread evenly
        /// (starts rounded); scipy's `gaussian_filter` of a unit impulse at ⌊window/2⌋ (σ =
        /// window/8, truncated at 4σ), scaled to a maximum of 10 and stored as float16, zeros
        /// replaced by the smallest non-zero weight.
        case nnunet
    }

    /// The precision the weighted sums are kept in.
    public enum Sums: String, Sendable, CaseIterable {
        /// Float32 sums (MONAI).
        case float32
        /// Float16 sums, each addition and the final division rounded to float16 as PyTorch does
        /// for nnU-Net's `torch.half` accumulators: nnU-Net's own output, bit for bit where the
        /// network outputs agree. Where windows meet with tiny weights (a volume's corners) this
        /// rounding moves nnU-Net's logits by up to several percent of their range.
        case float16
    }

    public let model: UNetModel
    /// The window's spatial size (`[H, W]` or `[D, H, W]`), a size the network keeps.
    public let window: [Int]
    /// The fraction of a window shared with its neighbour along each axis, in `0 ..< 1`.
    public let overlap: Double
    public let blending: Blending
    /// Spatial axes (0 is the first spatial axis) to mirror along for test-time augmentation.
    public let mirrorAxes: [Int]
    /// The precision of the sums: the framework's (float16 for nnU-Net) unless chosen.
    public let sums: Sums
    /// The importance map over the window, row-major.
    public let importance: [Float]

    public init(
        model: UNetModel, window: [Int], overlap: Double = 0.5, blending: Blending, mirrorAxes: [Int] = [],
        sums: Sums? = nil
    ) throws(InferenceError) {
        let dims = model.architecture.spatialDims
        guard window.count == dims, window.allSatisfy({ $0 >= 1 }) else {
            throw InferenceError(
                message: "the window must have \(dims) positive sizes for this \(dims)-D network, not \(window)")
        }
        guard (0..<1).contains(overlap) else {
            throw InferenceError(message: "the overlap must be at least 0 and below 1, not \(overlap)")
        }
        guard Set(mirrorAxes).count == mirrorAxes.count, mirrorAxes.allSatisfy({ (0..<dims).contains($0) }) else {
            throw InferenceError(message: "mirror axes \(mirrorAxes) are not distinct axes of 0…\(dims - 1)")
        }
        for axis in 0..<dims where model.network.sides(forInputSide: window[axis], axis: axis) == nil {
            let nearest = model.network.nearestValidInputSides(to: window[axis], axis: axis)
            let options = [nearest.below, nearest.above].compactMap { $0 }.map(String.init).joined(separator: " or ")
            throw InferenceError(
                message: "the window size \(window[axis]) along axis \(axis) is not valid for this network "
                    + "(nearest valid: \(options))")
        }
        guard let output = model.network.outputSize(forInputSize: window) else {
            throw InferenceError(message: "the window \(window) is not a valid input size of this network")
        }
        if output != window, let axis = window.indices.first(where: { output[$0] != window[$0] }) {
            /// The nearest sides along `axis` the network keeps, below and above.
            func keeps(_ side: Int) -> Bool {
                var size = window
                size[axis] = side
                return model.network.outputSize(forInputSize: size)?[axis] == side
            }
            let below = stride(from: window[axis] - 1, through: 1, by: -1).first(where: keeps)
            let above = (window[axis] + 1)...(window[axis] + 4096)
            let options = [below, above.first(where: keeps)].compactMap { $0 }.map(String.init)
            throw InferenceError(
                message: "the network gives \(output) for a \(window) window: sliding windows need sizes it keeps"
                    + (options.isEmpty
                        ? " (a valid-padding network: use the overlap-tile strategy, --tile)"
                        : "; along axis \(axis) the nearest are \(options.joined(separator: " or "))"))
        }
        self.model = model
        self.window = window
        self.overlap = overlap
        self.blending = blending
        self.mirrorAxes = mirrorAxes.sorted()
        self.sums = sums ?? (blending == .nnunet ? .float16 : .float32)
        self.importance = Self.importanceMap(window, blending: blending)
    }

    // MARK: - Placement

    /// The start of every window along each axis of an input of `size` (after padding to at least
    /// the window), in the framework's order.
    public func starts(for size: [Int]) -> [[Int]] {
        zip(size, window).map { side, window in
            let side = max(side, window)
            switch blending {
            case .monai:
                // MONAI's _get_scan_interval and dense_patch_slices.
                let interval = side == window ? window : max(Int(Double(window) * (1 - overlap)), 1)
                let count = (side - window + interval - 1) / interval + 1
                return (0..<count).map { index in
                    let start = index * interval
                    return start - max(start + window - side, 0)
                }
            case .nnunet:
                // nnU-Net's compute_steps_for_sliding_window, with tile_step_size = 1 − overlap.
                let target = Double(window) * (1 - overlap)
                let count = Int((Double(side - window) / target).rounded(.up)) + 1
                guard count > 1 else { return [0] }
                let step = Double(side - window) / Double(count - 1)
                return (0..<count).map { Int((step * Double($0)).rounded(.toNearestOrEven)) }
            }
        }
    }

    /// How many windows (network runs before mirroring) an input of this spatial size takes.
    public func windowCount(for spatial: [Int]) -> Int {
        if spatial.count == window.count + 1 {
            return spatial[0] * windowCount(for: Array(spatial.dropFirst()))
        }
        return starts(for: spatial).map(\.count).reduce(1, *)
    }

    // MARK: - Importance maps

    static func importanceMap(_ window: [Int], blending: Blending) -> [Float] {
        switch blending {
        case .monai:
            // monai.data.utils.compute_importance_map: float32 throughout.
            let axes = window.map { side -> [Float] in
                let sigma = Double(side) * 0.125
                let divisor = Float(-2 * sigma * sigma)
                return (0..<side).map { index in
                    let x = Float(index) - Float(side - 1) / 2
                    return Foundation.exp(x * x / divisor)
                }
            }
            var map = outerProduct(axes)
            let floor = max(map.min() ?? 0, Float(1e-3))
            for index in map.indices { map[index] = max(map[index], floor) }
            return map
        case .nnunet:
            // nnunetv2.inference.sliding_window_prediction.compute_gaussian: scipy's separable
            // filter of an impulse in float64, divided by its maximum over 10, then float16.
            let axes = window.map { side -> [Double] in
                let sigma = Double(side) / 8
                let radius = Int(4 * sigma + 0.5)
                let scale = -0.5 / (sigma * sigma)
                let kernel = (-radius...radius).map { Foundation.exp(scale * Double($0 * $0)) }
                let total = kernel.reduce(0, +)
                return (0..<side).map { index in
                    let offset = index - side / 2
                    return abs(offset) <= radius ? kernel[offset + radius] / total : 0
                }
            }
            let values = outerProduct(axes)
            let peak = values.max() ?? 1
            let divisor = peak / 10
            var map = values.map { Float(Float16(Float($0 / divisor))) }
            let smallest = map.filter { $0 > 0 }.min() ?? 1
            for index in map.indices where map[index] == 0 { map[index] = smallest }
            return map
        }
    }

    /// `a[i] · b[j] · c[k]` in row-major order, multiplied left to right.
    private static func outerProduct<T: FloatingPoint>(_ axes: [[T]]) -> [T] {
        axes.dropFirst().reduce(axes[0]) { product, axis in product.flatMap { value in axis.map { value * $0 } } }
    }

    // MARK: - Prediction

    /// Runs the network over `input` (`N, C` and the spatial sizes; one more spatial axis than
    /// the network has for slice-wise prediction) and returns the blended output over the same
    /// spatial size. `progress(done, total)` is called after each window.
    public func predict(_ input: FeatureMap, progress: ((Int, Int) -> Void)? = nil) throws(InferenceError) -> FeatureMap
    {
        let architecture = model.architecture
        guard input.channels == architecture.inChannels else {
            throw InferenceError(
                message: "the network takes \(architecture.inChannels) channels, the input has \(input.channels)")
        }
        let sliced = input.spatial.count == window.count + 1
        guard input.spatial.count == window.count || (sliced && window.count == 2) else {
            throw InferenceError(
                message: "a \(window.count)-D network runs over inputs with \(window.count) spatial axes"
                    + (window.count == 2 ? " (or 3, slice by slice)" : "") + ", not \(input.spatial)")
        }
        let total = input.batch * windowCount(for: input.spatial)
        var done = 0
        let tick = { () -> Void in
            done += 1
            progress?(done, total)
        }
        // Each 2-D slice (or each sample) as a map of its own, run, and its output put in place.
        let planes = sliced ? input.spatial[0] : 1
        let spatial = sliced ? Array(input.spatial.dropFirst()) : input.spatial
        let planeSize = spatial.reduce(1, *)
        var output: [Float] = []
        var outChannels = 0
        for sample in 0..<input.batch {
            for plane in 0..<planes {
                var values = [Float](repeating: 0, count: input.channels * planeSize)
                for channel in 0..<input.channels {
                    let source = ((sample * input.channels + channel) * planes + plane) * planeSize
                    values.replaceSubrange(
                        (channel * planeSize)..<((channel + 1) * planeSize),
                        with: input.values[source..<(source + planeSize)])
                }
                let image = FeatureMap(batch: 1, channels: input.channels, spatial: spatial, values: values)
                let result = try blend(image, tick: tick)
                if output.isEmpty {
                    outChannels = result.channels
                    output = [Float](repeating: 0, count: input.batch * outChannels * planes * planeSize)
                }
                for channel in 0..<outChannels {
                    let target = ((sample * outChannels + channel) * planes + plane) * planeSize
                    output.replaceSubrange(
                        target..<(target + planeSize),
                        with: result.values[(channel * planeSize)..<((channel + 1) * planeSize)])
                }
            }
        }
        return FeatureMap(batch: input.batch, channels: outChannels, spatial: input.spatial, values: output)
    }

    /// One sample, with as many spatial axes as the network.
    private func blend(_ image: FeatureMap, tick: () -> Void) throws(InferenceError) -> FeatureMap {
        let size = image.spatial
        let padBefore = zip(size, window).map { max($1 - $0, 0) / 2 }
        let starts = starts(for: size)
        let size3 = image.spatial3
        let window3 = Array(repeating: 1, count: 3 - window.count) + window
        let pad3 = Array(repeating: 0, count: 3 - window.count) + padBefore
        let voxels = size.reduce(1, *)
        var sum: [Float] = []
        var weight = [Float](repeating: 0, count: voxels)
        var tile = FeatureMap(batch: 1, channels: image.channels, spatial: window)
        var outChannels = 0
        for origin in Self.combinations(starts) {
            let origin3 = Array(repeating: 0, count: 3 - window.count) + origin
            // The window's first voxel in the input's coordinates (negative inside the padding).
            let corner = zip(origin3, pad3).map { $0 - $1 }
            Self.copy(
                from: image.values, size: size3, channels: image.channels, corner: corner, into: &tile.values,
                window: window3)
            let y = try predictMirrored(tile)
            if sum.isEmpty {
                outChannels = y.channels
                sum = [Float](repeating: 0, count: outChannels * voxels)
            }
            Self.accumulate(
                y.values, weights: importance, channels: outChannels, window: window3, corner: corner, into: &sum,
                weight: &weight, size: size3, half: sums == .float16)
            tick()
        }
        for channel in 0..<outChannels {
            for voxel in 0..<voxels {
                let quotient = sum[channel * voxels + voxel] / weight[voxel]
                sum[channel * voxels + voxel] = sums == .float16 ? Float(Float16(quotient)) : quotient
            }
        }
        if sums == .float16, sum.contains(where: \.isInfinite) {
            throw InferenceError(
                message: "the float16 sums overflowed (as nnU-Net's would); use float32 sums")
        }
        return FeatureMap(batch: 1, channels: outChannels, spatial: size, values: sum)
    }

    /// The network's output on `tile`, averaged with its outputs on the mirrored tiles (flipped
    /// back), in nnU-Net's order: the tile, then every combination of the mirror axes by size.
    private func predictMirrored(_ tile: FeatureMap) throws(InferenceError) -> FeatureMap {
        var prediction = try model.predict(tile)
        let flips = mirrorAxes.isEmpty ? [] : (1...mirrorAxes.count).flatMap { Self.subsets(of: mirrorAxes, size: $0) }
        guard !flips.isEmpty else { return prediction }
        for axes in flips {
            let output = try model.predict(Self.flipped(tile, axes: axes))
            let back = Self.flipped(output, axes: axes)
            for index in prediction.values.indices { prediction.values[index] += back.values[index] }
        }
        let count = Float(flips.count + 1)
        for index in prediction.values.indices { prediction.values[index] /= count }
        return prediction
    }

    // MARK: - Index arithmetic

    /// Every combination of one start per axis, the first axis slowest (numpy's meshgrid "ij").
    static func combinations(_ starts: [[Int]]) -> [[Int]] {
        starts.reduce([[]]) { partial, axis in partial.flatMap { prefix in axis.map { prefix + [$0] } } }
    }

    /// The subsets of `items` with `size` elements, in `itertools.combinations` order.
    static func subsets(of items: [Int], size: Int) -> [[Int]] {
        guard size > 0 else { return [[]] }
        guard size <= items.count else { return [] }
        return items.indices.flatMap { index in
            subsets(of: Array(items[(index + 1)...]), size: size - 1).map { [items[index]] + $0 }
        }
    }

    /// `map` reversed along the given spatial axes.
    static func flipped(_ map: FeatureMap, axes: [Int]) -> FeatureMap {
        let offset = 3 - map.spatial.count
        let (d, h, w) = (map.spatial3[0], map.spatial3[1], map.spatial3[2])
        let flip = (0..<3).map { axes.contains($0 - offset) }
        var values = map.values
        map.values.withUnsafeBufferPointer { source in
            values.withUnsafeMutableBufferPointer { target in
                for plane in 0..<(map.batch * map.channels) {
                    let base = plane * d * h * w
                    for z in 0..<d {
                        let sz = flip[0] ? d - 1 - z : z
                        for y in 0..<h {
                            let sy = flip[1] ? h - 1 - y : y
                            let from = base + (sz * h + sy) * w
                            let to = base + (z * h + y) * w
                            for x in 0..<w { target[to + x] = source[from + (flip[2] ? w - 1 - x : x)] }
                        }
                    }
                }
            }
        }
        return FeatureMap(batch: map.batch, channels: map.channels, spatial: map.spatial, values: values)
    }

    /// Copies the window at `corner` (in input coordinates, three axes) out of a 1-sample input,
    /// zeros where it lies outside.
    private static func copy(
        from source: [Float], size: [Int], channels: Int, corner: [Int], into target: inout [Float], window: [Int]
    ) {
        let (d, h, w) = (size[0], size[1], size[2])
        let (wd, wh, ww) = (window[0], window[1], window[2])
        let x0 = max(0, -corner[2]), x1 = min(ww, w - corner[2])
        source.withUnsafeBufferPointer { source in
            target.withUnsafeMutableBufferPointer { target in
                target.initialize(repeating: 0)
                guard x0 < x1 else { return }
                for channel in 0..<channels {
                    for z in 0..<wd {
                        let sz = corner[0] + z
                        guard sz >= 0, sz < d else { continue }
                        for y in 0..<wh {
                            let sy = corner[1] + y
                            guard sy >= 0, sy < h else { continue }
                            let from = ((channel * d + sz) * h + sy) * w + corner[2]
                            let to = ((channel * wd + z) * wh + y) * ww
                            for x in x0..<x1 { target[to + x] = source[from + x] }
                        }
                    }
                }
            }
        }
    }

    /// Adds `weights · values` of a window at `corner` to `sum` and `weights` to `weight`, for
    /// the voxels inside the input; with `half`, every sum is rounded to float16.
    private static func accumulate(
        _ values: [Float], weights: [Float], channels: Int, window: [Int], corner: [Int], into sum: inout [Float],
        weight: inout [Float], size: [Int], half: Bool
    ) {
        let (d, h, w) = (size[0], size[1], size[2])
        let (wd, wh, ww) = (window[0], window[1], window[2])
        let x0 = max(0, -corner[2]), x1 = min(ww, w - corner[2])
        guard x0 < x1 else { return }
        let voxels = d * h * w
        values.withUnsafeBufferPointer { values in
            weights.withUnsafeBufferPointer { weights in
                sum.withUnsafeMutableBufferPointer { sum in
                    weight.withUnsafeMutableBufferPointer { weight in
                        for z in 0..<wd {
                            let tz = corner[0] + z
                            guard tz >= 0, tz < d else { continue }
                            for y in 0..<wh {
                                let ty = corner[1] + y
                                guard ty >= 0, ty < h else { continue }
                                let row = (z * wh + y) * ww
                                let to = (tz * h + ty) * w + corner[2]
                                for x in x0..<x1 {
                                    let total = weight[to + x] + weights[row + x]
                                    weight[to + x] = half ? Float(Float16(total)) : total
                                }
                                for channel in 0..<channels {
                                    let from = channel * wd * wh * ww + row
                                    let target = channel * voxels + to
                                    for x in x0..<x1 {
                                        let total = sum[target + x] + values[from + x] * weights[row + x]
                                        sum[target + x] = half ? Float(Float16(total)) : total
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
