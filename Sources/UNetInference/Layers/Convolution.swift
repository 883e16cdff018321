import Foundation
import UNetCheckpoint

/// A 2-D convolution (stride 1) with its padding, bias and an optional activation fused. 3×3
/// kernels on more than a few channels run by Winograd F(2×2, 3×3) (``WinogradKernel``); the
/// others as GEMMs over blocks of output rows, so the unfolded input stays small. Blocks run in
/// parallel, each with single-threaded OpenBLAS.
struct Convolution: Sendable {
    let inChannels: Int
    let outChannels: Int
    let kernel: Int
    /// Zero padding before and after, vertically and horizontally.
    let padTop: Int, padBottom: Int, padLeft: Int, padRight: Int
    /// `[outChannels, inChannels × kernel × kernel]`, row-major (OIHW flattened); empty when the
    /// Winograd kernel holds the weights.
    let weight: [Float]
    /// One per output channel (zeros when the layer has no bias).
    let bias: [Float]
    let activation: Activation?
    let winograd: WinogradKernel?

    /// The fewest input channels for which Winograd pays (below it the GEMMs are too thin).
    static let winogradMinimumChannels = 8
    /// The largest unfolded block per thread, in floats (about 4 MiB).
    static let blockLimit = 1 << 20

    init(
        inChannels: Int, outChannels: Int, kernel: Int, padTop: Int, padBottom: Int, padLeft: Int, padRight: Int,
        weight: [Float], bias: [Float], activation: Activation?
    ) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        (self.padTop, self.padBottom, self.padLeft, self.padRight) = (padTop, padBottom, padLeft, padRight)
        self.bias = bias.isEmpty ? [Float](repeating: 0, count: outChannels) : bias
        self.activation = activation
        if kernel == 3 && inChannels >= Self.winogradMinimumChannels {
            winograd = WinogradKernel(weight: weight, outChannels: outChannels, inChannels: inChannels)
            self.weight = []
        } else {
            winograd = nil
            self.weight = weight
        }
    }

    func outputSize(height: Int, width: Int) -> (Int, Int) {
        (height + padTop + padBottom - kernel + 1, width + padLeft + padRight - kernel + 1)
    }

    func callAsFunction(_ input: FeatureMap, threads: Int) -> FeatureMap {
        precondition(input.channels == inChannels, "convolution expects \(inChannels) channels")
        let (outHeight, outWidth) = outputSize(height: input.height, width: input.width)
        var output = FeatureMap(batch: input.batch, channels: outChannels, height: outHeight, width: outWidth)
        let outSample = outChannels * outHeight * outWidth
        input.values.withUnsafeBufferPointer { source in
            output.values.withUnsafeMutableBufferPointer { target in
                for sample in 0..<input.batch {
                    let inBase = source.baseAddress! + sample * input.sampleSize
                    let outBase = target.baseAddress! + sample * outSample
                    if let winograd {
                        let geometry = WinogradKernel.Geometry(
                            height: input.height, width: input.width, padTop: padTop, padLeft: padLeft,
                            outHeight: outHeight, outWidth: outWidth)
                        winograd.convolve(
                            inBase, into: outBase, geometry: geometry, bias: bias, activation: activation,
                            threads: threads)
                    } else {
                        unfoldAndMultiply(
                            inBase, input: input, into: outBase, outHeight: outHeight, outWidth: outWidth,
                            threads: threads)
                    }
                }
            }
        }
        return output
    }

    /// im2col and GEMM over blocks of output rows (a 1×1 kernel without padding needs no unfolding).
    private func unfoldAndMultiply(
        _ source: UnsafePointer<Float>, input: FeatureMap, into target: UnsafeMutablePointer<Float>, outHeight: Int,
        outWidth: Int, threads: Int
    ) {
        let depth = inChannels * kernel * kernel
        let direct = kernel == 1 && padTop == 0 && padLeft == 0 && padBottom == 0 && padRight == 0
        let fitting = max(1, Self.blockLimit / max(1, depth * outWidth))
        let rowsPerBlock = max(1, min(fitting, (outHeight + threads - 1) / threads))
        let blocks = (outHeight + rowsPerBlock - 1) / rowsPerBlock
        let workers = max(1, min(threads, blocks))
        let scratchSize = direct ? 0 : depth * rowsPerBlock * outWidth
        var scratch = [Float](repeating: 0, count: workers * scratchSize)
        let plane = outHeight * outWidth
        scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            weight.withUnsafeBufferPointer { weights in
                bias.withUnsafeBufferPointer { bias in
                    let (scratch, weights, bias) = (scratchBuffer.baseAddress, weights.baseAddress!, bias.baseAddress!)
                    Parallel.forEach(blocks, threads: workers) { block, worker in
                        let row = block * rowsPerBlock
                        let rows = min(rowsPerBlock, outHeight - row)
                        let columns = rows * outWidth
                        let matrix: UnsafePointer<Float>
                        let ldb: Int
                        if direct {
                            (matrix, ldb) = (source + row * outWidth, plane)
                        } else {
                            let unfolded = scratch! + worker * scratchSize
                            unfold(source, input: input, firstRow: row, rows: rows, outWidth: outWidth, into: unfolded)
                            (matrix, ldb) = (UnsafePointer(unfolded), columns)
                        }
                        let out = target + row * outWidth
                        BLAS.multiply(
                            m: outChannels, n: columns, k: depth, weights, lda: depth, matrix, ldb: ldb, into: out,
                            ldc: plane)
                        for channel in 0..<outChannels {
                            let values = UnsafeMutableBufferPointer(start: out + channel * plane, count: columns)
                            let b = bias[channel]
                            if b != 0 { for i in values.indices { values[i] += b } }
                            activation?.apply(values)
                        }
                    }
                }
            }
        }
    }

    /// im2col for output rows `firstRow ..< firstRow + rows`: row `(c, ky, kx)`, column `(y, x)`.
    private func unfold(
        _ source: UnsafePointer<Float>, input: FeatureMap, firstRow: Int, rows: Int, outWidth: Int,
        into columns: UnsafeMutablePointer<Float>
    ) {
        let width = input.width, height = input.height
        let blockColumns = rows * outWidth
        for channel in 0..<inChannels {
            let plane = source + channel * height * width
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    var destination = columns + ((channel * kernel + ky) * kernel + kx) * blockColumns
                    for y in firstRow..<(firstRow + rows) {
                        let sy = y + ky - padTop
                        if sy < 0 || sy >= height {
                            destination.update(repeating: 0, count: outWidth)
                        } else {
                            let line = plane + sy * width
                            let first = max(0, padLeft - kx)
                            let last = min(outWidth, width + padLeft - kx)
                            if first > 0 { destination.update(repeating: 0, count: first) }
                            if last > first {
                                (destination + first).update(from: line + (first + kx - padLeft), count: last - first)
                            }
                            if last < outWidth {
                                (destination + max(last, first)).update(
                                    repeating: 0, count: outWidth - max(last, first))
                            }
                        }
                        destination += outWidth
                    }
                }
            }
        }
    }
}

/// An element-wise activation.
enum Activation: Sendable {
    case relu
    case leakyReLU(Float)
    case sigmoid

    @inline(__always)
    func apply(_ value: Float) -> Float {
        switch self {
        case .relu: return max(value, 0)
        case .leakyReLU(let slope): return value < 0 ? value * slope : value
        case .sigmoid: return 1 / (1 + expf(-value))
        }
    }

    @inline(__always)
    func apply(_ values: SIMD4<Float>) -> SIMD4<Float> {
        switch self {
        case .relu: return values.replacing(with: 0, where: values .< 0)
        case .leakyReLU(let slope): return values.replacing(with: values * slope, where: values .< 0)
        case .sigmoid: return SIMD4(apply(values[0]), apply(values[1]), apply(values[2]), apply(values[3]))
        }
    }

    func apply(_ values: UnsafeMutableBufferPointer<Float>) {
        switch self {
        case .relu: for i in values.indices { values[i] = max(values[i], 0) }
        case .leakyReLU(let slope): for i in values.indices where values[i] < 0 { values[i] *= slope }
        case .sigmoid: for i in values.indices { values[i] = 1 / (1 + expf(-values[i])) }
        }
    }
}
