import UNetCheckpoint

/// Max and average pooling over 1, 2 or 3 spatial axes with PyTorch's `MaxPool*d` / `AvgPool*d`
/// arithmetic (dilation 1): per-axis kernel, stride and symmetric padding, floor or ceil mode.
///
/// Output size per axis: `⌊(in + 2·pad − kernel + (ceil ? stride − 1 : 0)) / stride⌋ + 1`, less one
/// in ceil mode when the last window would start beyond the input and its left padding (PyTorch's
/// rule). Max pooling pads with −∞; average pooling divides by the window clipped to the padded
/// input (`countIncludePad`) or to the input. PyTorch refuses a padding above half the kernel;
/// here such a window that sees only padding gives −∞ (max) or NaN (average without padding
/// counted), never a crash. Preconditions (caller mistakes): one kernel, stride and padding per
/// spatial axis, kernel and stride positive, padding non-negative.
enum Pooling: Sendable {
    /// What a window is reduced to.
    enum Kind: Sendable, Equatable {
        case max
        case average(countIncludePad: Bool)
    }

    /// The output size of one axis.
    static func outputSize(input: Int, kernel: Int, stride: Int, padding: Int, ceilMode: Bool) -> Int {
        let numerator = input + 2 * padding - kernel + (ceilMode ? stride - 1 : 0)
        guard numerator >= 0 else { return 0 }
        var size = numerator / stride + 1
        if ceilMode && (size - 1) * stride >= input + padding { size -= 1 }
        return max(0, size)
    }

    /// Max pooling; an empty `stride` means the kernel, an empty `padding` 0.
    static func maxPool(
        _ input: FeatureMap, kernel: [Int], stride: [Int] = [], padding: [Int] = [], ceilMode: Bool = false
    ) -> FeatureMap {
        pool(input, kind: .max, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    }

    /// Average pooling; an empty `stride` means the kernel, an empty `padding` 0.
    static func averagePool(
        _ input: FeatureMap, kernel: [Int], stride: [Int] = [], padding: [Int] = [], ceilMode: Bool = false,
        countIncludePad: Bool = true
    ) -> FeatureMap {
        pool(
            input, kind: .average(countIncludePad: countIncludePad), kernel: kernel, stride: stride, padding: padding,
            ceilMode: ceilMode)
    }

    /// One axis's windows: first and end (exclusive) inside the input, and the size clipped to the
    /// padded input.
    private struct Window {
        let start: Int, end: Int, padded: Int
    }

    /// The larger of two values, NaN if either is (as the general loop below).
    @inline(__always)
    static func largest(_ a: Float, _ b: Float) -> Float { a > b || a.isNaN ? a : b }

    /// Pools every plane (sample and channel), the planes split across `threads` threads.
    static func pool(
        _ input: FeatureMap, kind: Kind, kernel: [Int], stride: [Int], padding: [Int], ceilMode: Bool, threads: Int = 1
    ) -> FeatureMap {
        let axes = input.spatial.count
        let stride = stride.isEmpty ? kernel : stride
        let padding = padding.isEmpty ? [Int](repeating: 0, count: axes) : padding
        precondition(kernel.count == axes && stride.count == axes && padding.count == axes, "one value per axis")
        precondition(
            kernel.allSatisfy { $0 >= 1 } && stride.allSatisfy { $0 >= 1 } && padding.allSatisfy { $0 >= 0 },
            "bad pooling geometry")
        let outSpatial = input.spatial.indices.map {
            outputSize(
                input: input.spatial[$0], kernel: kernel[$0], stride: stride[$0], padding: padding[$0],
                ceilMode: ceilMode)
        }
        var output = FeatureMap(batch: input.batch, channels: input.channels, spatial: outSpatial)
        guard output.values.count > 0 else { return output }
        let lead = 3 - axes
        let inSize = input.spatial3, outSize = output.spatial3
        // Per axis (as three), the window of every output index.
        let windows: [[Window]] = (0..<3).map { axis in
            guard axis >= lead else { return [Window(start: 0, end: 1, padded: 1)] }
            let (k, s, p, n) = (kernel[axis - lead], stride[axis - lead], padding[axis - lead], inSize[axis])
            return (0..<outSize[axis]).map { index in
                let start = index * s - p
                let end = min(start + k, n + p)
                return Window(start: max(start, 0), end: min(end, n), padded: end - start)
            }
        }
        let (inPlane, outPlane) = (input.plane, output.plane)
        let (height, width) = (inSize[1], inSize[2])
        if kind == .max && axes == 2 && kernel == [2, 2] && stride == [2, 2] && padding == [0, 0]
            && 2 * outSize[1] <= height && 2 * outSize[2] <= width
        {
            // The U-Nets' 2×2 max-pool: two input rows per output row, no windows to clip.
            let (outHeight, outWidth) = (outSize[1], outSize[2])
            input.values.withUnsafeBufferPointer { source in
                output.values.withUnsafeMutableBufferPointer { target in
                    let (source, target) = (source.baseAddress!, target.baseAddress!)
                    Parallel.forEach(input.batch * input.channels, threads: threads) { plane, _ in
                        for y in 0..<outHeight {
                            let top = source + plane * inPlane + 2 * y * width, bottom = top + width
                            let out = target + plane * outPlane + y * outWidth
                            for x in 0..<outWidth {
                                out[x] = Self.largest(
                                    Self.largest(top[2 * x], top[2 * x + 1]),
                                    Self.largest(bottom[2 * x], bottom[2 * x + 1]))
                            }
                        }
                    }
                }
            }
            return output
        }
        input.values.withUnsafeBufferPointer { source in
            output.values.withUnsafeMutableBufferPointer { target in
                let (source, target) = (source.baseAddress!, target.baseAddress!)
                Parallel.forEach(input.batch * input.channels, threads: threads) { plane, _ in
                    let volume = source + plane * inPlane
                    var out = target + plane * outPlane
                    for wz in windows[0] {
                        for wy in windows[1] {
                            for wx in windows[2] {
                                var largest = -Float.infinity
                                var total: Float = 0
                                for z in wz.start..<max(wz.start, wz.end) {
                                    for y in wy.start..<max(wy.start, wy.end) {
                                        let line = volume + (z * height + y) * width
                                        for x in wx.start..<max(wx.start, wx.end) {
                                            let value = line[x]
                                            if value > largest || value.isNaN { largest = value }
                                            total += value
                                        }
                                    }
                                }
                                switch kind {
                                case .max: out.pointee = largest
                                case .average(let countIncludePad):
                                    let count =
                                        countIncludePad
                                        ? wz.padded * wy.padded * wx.padded
                                        : (wz.end - wz.start) * (wy.end - wy.start) * (wx.end - wx.start)
                                    out.pointee = total / Float(count)
                                }
                                out += 1
                            }
                        }
                    }
                }
            }
        }
        return output
    }
}
