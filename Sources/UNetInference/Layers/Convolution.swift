import Foundation
import UNetCheckpoint

/// A convolution over 1, 2 or 3 spatial axes with PyTorch's `Conv1d/2d/3d` arithmetic: per-axis
/// kernel, stride, dilation and zero padding (before and after may differ, as TensorFlow's
/// "same"), groups (depthwise when `groups == inChannels`), a bias and an optional activation
/// fused. 3×3 and 3×3×3 stride-1 undilated ungrouped kernels on more than a few channels run by
/// Winograd F(4×4, 3×3) (``WinogradKernel``) where the plane has enough tiles; the others as an
/// im2col GEMM over blocks of output rows (one row: one output depth and height), so the unfolded
/// input stays small. Blocks run in parallel, each with single-threaded OpenBLAS.
///
/// Preconditions (mistakes of the calling code, which checks shapes when it loads the weights):
/// every per-axis array has one entry per spatial axis, `groups` divides both channel counts,
/// `weight` holds `outChannels × inChannels / groups × Π kernel` values, sizes and strides are
/// positive, and the input has `inChannels` channels and as many spatial axes as the kernel. An
/// input smaller than the kernel gives an empty output (size 0 on that axis), not a crash.
struct Convolution: Sendable {
    let inChannels: Int
    let outChannels: Int
    /// Per spatial axis, in the map's order (`[D, H, W]`, `[H, W]` or `[W]`).
    let kernel: [Int]
    let stride: [Int]
    let dilation: [Int]
    /// Zero padding before and after, per spatial axis.
    let padBefore: [Int]
    let padAfter: [Int]
    let groups: Int
    /// `[outChannels, inChannels / groups × Π kernel]`, row-major (OI[D]HW flattened); kept beside
    /// the Winograd kernel's for planes too small for it.
    let weight: [Float]
    /// One per output channel (zeros when the layer has no bias).
    let bias: [Float]
    let activation: Activation?
    let winograd: Winograd?

    /// The Winograd variant of a layer: F(2×2, 3×3) for 2-D layers of few channels, whose
    /// products are too thin for the larger tiles to pay and which keep F(2×2)'s smaller rounding
    /// (about 1e-6 of the output range; F(4×4)'s is about 5e-6), F(4×4, 3×3) for the others.
    enum Winograd: Sendable {
        case smallTiles(SmallTileWinogradKernel)
        case largeTiles(WinogradKernel)
    }

    /// The fewest input and output channels for F(4×4, 3×3) on a 2-D layer.
    static let largeTileMinimumChannels = 32

    /// The fewest input channels for which Winograd pays (below it the GEMMs are too thin).
    static let winogradMinimumChannels = 8
    /// The largest unfolded block per thread, in floats (about 4 MiB).
    static let blockLimit = 1 << 20

    /// A general convolution. An empty `stride` or `dilation` means 1 on every axis, an empty
    /// padding 0 on every axis; an empty `bias` means none.
    init(
        inChannels: Int, outChannels: Int, kernel: [Int], stride: [Int] = [], dilation: [Int] = [],
        padBefore: [Int] = [], padAfter: [Int] = [], groups: Int = 1, weight: [Float], bias: [Float],
        activation: Activation?
    ) {
        let axes = kernel.count
        let ones = [Int](repeating: 1, count: axes), zeros = [Int](repeating: 0, count: axes)
        let stride = stride.isEmpty ? ones : stride
        let dilation = dilation.isEmpty ? ones : dilation
        let padBefore = padBefore.isEmpty ? zeros : padBefore
        let padAfter = padAfter.isEmpty ? zeros : padAfter
        precondition((1...3).contains(axes), "a convolution has 1, 2 or 3 spatial axes")
        precondition(
            [stride, dilation, padBefore, padAfter].allSatisfy { $0.count == axes },
            "one stride, dilation and padding per axis")
        precondition(
            kernel.allSatisfy { $0 >= 1 } && stride.allSatisfy { $0 >= 1 } && dilation.allSatisfy { $0 >= 1 }
                && padBefore.allSatisfy { $0 >= 0 } && padAfter.allSatisfy { $0 >= 0 }, "bad convolution geometry")
        precondition(
            groups >= 1 && inChannels % groups == 0 && outChannels % groups == 0, "groups must divide the channels")
        precondition(
            weight.count == outChannels * inChannels / groups * kernel.reduce(1, *), "the weight does not fit")
        precondition(bias.isEmpty || bias.count == outChannels, "one bias per output channel")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.dilation = dilation
        self.padBefore = padBefore
        self.padAfter = padAfter
        self.groups = groups
        self.bias = bias.isEmpty ? [Float](repeating: 0, count: outChannels) : bias
        self.activation = activation
        if (kernel == [3, 3] || kernel == [3, 3, 3]) && stride.allSatisfy({ $0 == 1 })
            && dilation.allSatisfy({ $0 == 1 }) && groups == 1 && inChannels >= Self.winogradMinimumChannels
        {
            winograd =
                kernel.count == 2 && min(inChannels, outChannels) < Self.largeTileMinimumChannels
                ? .smallTiles(SmallTileWinogradKernel(weight: weight, outChannels: outChannels, inChannels: inChannels))
                : .largeTiles(
                    WinogradKernel(
                        weight: weight, outChannels: outChannels, inChannels: inChannels,
                        depth: kernel.count == 3 ? 3 : 1))
        } else {
            winograd = nil
        }
        self.weight = weight
    }

    /// A 2-D square-kernel stride-1 convolution (the layers of the schema-1 networks).
    init(
        inChannels: Int, outChannels: Int, kernel: Int, padTop: Int, padBottom: Int, padLeft: Int, padRight: Int,
        weight: [Float], bias: [Float], activation: Activation?
    ) {
        self.init(
            inChannels: inChannels, outChannels: outChannels, kernel: [kernel, kernel], padBefore: [padTop, padLeft],
            padAfter: [padBottom, padRight], weight: weight, bias: bias, activation: activation)
    }

    /// The output's spatial sizes for an input's: `⌊(in + before + after − dilation·(k − 1) − 1) / stride⌋ + 1`,
    /// or 0 when the padded input is smaller than the dilated kernel.
    func outputSpatial(_ input: [Int]) -> [Int] {
        input.indices.map { axis in
            let room = input[axis] + padBefore[axis] + padAfter[axis] - dilation[axis] * (kernel[axis] - 1) - 1
            return room < 0 ? 0 : room / stride[axis] + 1
        }
    }

    /// The output's height and width for a 2-D input.
    func outputSize(height: Int, width: Int) -> (Int, Int) {
        let sizes = outputSpatial([height, width])
        return (sizes[0], sizes[1])
    }

    func callAsFunction(_ input: FeatureMap, threads: Int) -> FeatureMap {
        precondition(input.channels == inChannels, "convolution expects \(inChannels) channels")
        precondition(input.spatial.count == kernel.count, "convolution expects \(kernel.count) spatial axes")
        let outSpatial = outputSpatial(input.spatial)
        var output = FeatureMap(batch: input.batch, channels: outChannels, spatial: outSpatial)
        let outSample = output.sampleSize
        guard outSample > 0 else { return output }
        let (outHeight, outWidth, out3) = (output.height, output.width, output.spatial3)
        input.values.withUnsafeBufferPointer { source in
            output.values.withUnsafeMutableBufferPointer { target in
                for sample in 0..<input.batch {
                    let inBase = source.baseAddress! + sample * input.sampleSize
                    let outBase = target.baseAddress! + sample * outSample
                    if case .smallTiles(let winograd) = winograd {
                        let geometry = SmallTileWinogradKernel.Geometry(
                            height: input.height, width: input.width, padTop: padBefore[0], padLeft: padBefore[1],
                            outHeight: outHeight, outWidth: outWidth)
                        winograd.convolve(
                            inBase, into: outBase, geometry: geometry, bias: bias, activation: activation,
                            threads: threads)
                    } else if case .largeTiles(let winograd) = winograd,
                        let geometry = winogradGeometry(input.spatial, output: outSpatial), WinogradKernel.pays(geometry)
                    {
                        winograd.convolve(
                            inBase, into: outBase, geometry: geometry, bias: bias, activation: activation,
                            threads: threads)
                    } else {
                        unfoldAndMultiply(
                            inBase, geometry: Geometry(self, input: input.spatial3, output: out3),
                            into: outBase, threads: threads)
                    }
                }
            }
        }
        return output
    }

    /// The Winograd kernel's view of a call (its kernels are 2-D or 3-D).
    private func winogradGeometry(_ input: [Int], output: [Int]) -> WinogradKernel.Geometry? {
        let axes = kernel.count
        guard axes >= 2 else { return nil }
        var geometry = WinogradKernel.Geometry(
            height: input[axes - 2], width: input[axes - 1], padTop: padBefore[axes - 2], padLeft: padBefore[axes - 1],
            outHeight: output[axes - 2], outWidth: output[axes - 1])
        if axes == 3 { (geometry.inDepth, geometry.padFront, geometry.outDepth) = (input[0], padBefore[0], output[0]) }
        return geometry
    }

    /// The convolution's parameters as three axes (depth, height, width), leading axes of size 1.
    struct Geometry {
        let kernel: [Int], stride: [Int], dilation: [Int], pad: [Int]
        let input: [Int], output: [Int]
        var inPlane: Int { input[0] * input[1] * input[2] }
        var outPlane: Int { output[0] * output[1] * output[2] }
        var kernelVolume: Int { kernel[0] * kernel[1] * kernel[2] }

        init(_ conv: Convolution, input: [Int], output: [Int]) {
            func three(_ values: [Int], _ fill: Int) -> [Int] {
                [Int](repeating: fill, count: 3 - values.count) + values
            }
            (kernel, stride, dilation) = (three(conv.kernel, 1), three(conv.stride, 1), three(conv.dilation, 1))
            pad = three(conv.padBefore, 0)
            (self.input, self.output) = (input, output)
        }
    }

    /// im2col and GEMM over blocks of output rows, one GEMM per group (a 1×1 kernel of stride 1
    /// without padding needs no unfolding).
    private func unfoldAndMultiply(
        _ source: UnsafePointer<Float>, geometry: Geometry, into target: UnsafeMutablePointer<Float>, threads: Int
    ) {
        let groupIn = inChannels / groups, groupOut = outChannels / groups
        let depth = groupIn * geometry.kernelVolume
        let outWidth = geometry.output[2]
        let outRows = geometry.output[0] * geometry.output[1]
        let direct =
            kernel.allSatisfy { $0 == 1 } && stride.allSatisfy { $0 == 1 } && padBefore.allSatisfy { $0 == 0 }
            && padAfter.allSatisfy { $0 == 0 }
        let fitting = max(1, Self.blockLimit / max(1, depth * outWidth))
        let rowsPerBlock = max(1, min(fitting, (outRows + threads - 1) / threads))
        let blocks = (outRows + rowsPerBlock - 1) / rowsPerBlock
        let workers = max(1, min(threads, blocks))
        let scratchSize = direct ? 0 : depth * rowsPerBlock * outWidth
        var scratch = [Float](repeating: 0, count: workers * scratchSize)
        let (inPlane, outPlane) = (geometry.inPlane, geometry.outPlane)
        scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            weight.withUnsafeBufferPointer { weights in
                bias.withUnsafeBufferPointer { bias in
                    let (scratch, weights, bias) = (scratchBuffer.baseAddress, weights.baseAddress!, bias.baseAddress!)
                    Parallel.forEach(blocks, threads: workers) { block, worker in
                        let row = block * rowsPerBlock
                        let rows = min(rowsPerBlock, outRows - row)
                        let columns = rows * outWidth
                        for group in 0..<groups {
                            let groupSource = source + group * groupIn * inPlane
                            let matrix: UnsafePointer<Float>
                            let ldb: Int
                            if direct {
                                (matrix, ldb) = (groupSource + row * outWidth, inPlane)
                            } else {
                                let unfolded = scratch! + worker * scratchSize
                                Self.unfold(
                                    groupSource, channels: groupIn, geometry: geometry, firstRow: row, rows: rows,
                                    into: unfolded)
                                (matrix, ldb) = (UnsafePointer(unfolded), columns)
                            }
                            BLAS.multiply(
                                m: groupOut, n: columns, k: depth, weights + group * groupOut * depth, lda: depth,
                                matrix, ldb: ldb, into: target + group * groupOut * outPlane + row * outWidth,
                                ldc: outPlane)
                        }
                        for channel in 0..<outChannels {
                            let values = UnsafeMutableBufferPointer(
                                start: target + channel * outPlane + row * outWidth, count: columns)
                            let b = bias[channel]
                            if b != 0 { for i in values.indices { values[i] += b } }
                            activation?.apply(values)
                        }
                    }
                }
            }
        }
    }

    /// `⌈a / b⌉` for a positive `b`.
    @inline(__always)
    static func ceilDivide(_ a: Int, _ b: Int) -> Int { a >= 0 ? (a + b - 1) / b : -((-a) / b) }

    /// im2col for output rows `firstRow ..< firstRow + rows` (a row: one output depth and height):
    /// row `(c, kd, ky, kx)`, column `(row, x)`.
    private static func unfold(
        _ source: UnsafePointer<Float>, channels: Int, geometry g: Geometry, firstRow: Int, rows: Int,
        into columns: UnsafeMutablePointer<Float>
    ) {
        let (depth, height, width) = (g.input[0], g.input[1], g.input[2])
        let (outHeight, outWidth) = (g.output[1], g.output[2])
        let blockColumns = rows * outWidth
        let strideX = g.stride[2]
        for channel in 0..<channels {
            let volume = source + channel * g.inPlane
            for kz in 0..<g.kernel[0] {
                for ky in 0..<g.kernel[1] {
                    for kx in 0..<g.kernel[2] {
                        let position = ((channel * g.kernel[0] + kz) * g.kernel[1] + ky) * g.kernel[2] + kx
                        var destination = columns + position * blockColumns
                        // Source column x·stride + offset; the outputs x in first..<last read inside the row.
                        let offset = kx * g.dilation[2] - g.pad[2]
                        let first = min(outWidth, max(0, ceilDivide(-offset, strideX)))
                        let last = max(first, min(outWidth, ceilDivide(width - offset, strideX)))
                        for row in firstRow..<(firstRow + rows) {
                            let (z, y) = row.quotientAndRemainder(dividingBy: outHeight)
                            let sz = z * g.stride[0] + kz * g.dilation[0] - g.pad[0]
                            let sy = y * g.stride[1] + ky * g.dilation[1] - g.pad[1]
                            if sz < 0 || sz >= depth || sy < 0 || sy >= height {
                                destination.update(repeating: 0, count: outWidth)
                            } else {
                                let line = volume + (sz * height + sy) * width
                                if first > 0 { destination.update(repeating: 0, count: first) }
                                if strideX == 1 {
                                    (destination + first).update(from: line + (first + offset), count: last - first)
                                } else {
                                    for x in first..<last { destination[x] = line[x * strideX + offset] }
                                }
                                if last < outWidth { (destination + last).update(repeating: 0, count: outWidth - last) }
                            }
                            destination += outWidth
                        }
                    }
                }
            }
        }
    }
}
