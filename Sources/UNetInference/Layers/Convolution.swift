import COpenBLAS
import Foundation

/// A 2-D convolution (stride 1) with its padding, bias and an optional activation fused, run as
/// a GEMM on OpenBLAS over blocks of output rows so the unfolded input stays small.
struct Convolution {
    let inChannels: Int
    let outChannels: Int
    let kernel: Int
    /// Zero padding before and after, vertically and horizontally.
    let padTop: Int, padBottom: Int, padLeft: Int, padRight: Int
    /// `[outChannels, inChannels × kernel × kernel]`, row-major (OIHW flattened).
    let weight: [Float]
    let bias: [Float]
    let activation: Activation?

    /// The largest unfolded block, in floats (about 16 MiB).
    static let blockLimit = 4 << 20

    func outputSize(height: Int, width: Int) -> (Int, Int) {
        (height + padTop + padBottom - kernel + 1, width + padLeft + padRight - kernel + 1)
    }

    func callAsFunction(_ input: FeatureMap) -> FeatureMap {
        precondition(input.channels == inChannels, "convolution expects \(inChannels) channels")
        let (outHeight, outWidth) = outputSize(height: input.height, width: input.width)
        var output = FeatureMap(batch: input.batch, channels: outChannels, height: outHeight, width: outWidth)
        let depth = inChannels * kernel * kernel
        let rowsPerBlock = max(1, min(outHeight, Self.blockLimit / max(1, depth * outWidth)))
        let direct = kernel == 1 && padTop == 0 && padLeft == 0 && padBottom == 0 && padRight == 0
        var unfolded = [Float](repeating: 0, count: direct ? 0 : depth * rowsPerBlock * outWidth)
        let outSample = outChannels * outHeight * outWidth
        input.values.withUnsafeBufferPointer { source in
            output.values.withUnsafeMutableBufferPointer { target in
                weight.withUnsafeBufferPointer { weights in
                    for sample in 0..<input.batch {
                        let inBase = source.baseAddress! + sample * input.sampleSize
                        let outBase = target.baseAddress! + sample * outSample
                        if direct {
                            multiply(
                                weights.baseAddress!, inBase, into: outBase, columns: outHeight * outWidth,
                                depth: depth, ldc: outHeight * outWidth)
                            continue
                        }
                        var row = 0
                        while row < outHeight {
                            let rows = min(rowsPerBlock, outHeight - row)
                            unfolded.withUnsafeMutableBufferPointer { buffer in
                                unfold(
                                    inBase, input: input, firstRow: row, rows: rows, outWidth: outWidth,
                                    into: buffer.baseAddress!)
                                multiply(
                                    weights.baseAddress!, buffer.baseAddress!, into: outBase + row * outWidth,
                                    columns: rows * outWidth, depth: depth, ldc: outHeight * outWidth)
                            }
                            row += rows
                        }
                    }
                }
            }
        }
        addBiasAndActivate(&output)
        return output
    }

    /// out[O, columns] = weight[O, depth] × columnsMatrix[depth, columns] (row stride ldc in out).
    private func multiply(
        _ weights: UnsafePointer<Float>, _ matrix: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
        columns: Int, depth: Int, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(outChannels), Int32(columns), Int32(depth), 1,
            weights, Int32(depth), matrix, Int32(columns), 0, out, Int32(ldc))
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

    private func addBiasAndActivate(_ map: inout FeatureMap) {
        let plane = map.plane
        let channels = map.channels
        map.values.withUnsafeMutableBufferPointer { values in
            for sample in 0..<map.batch {
                for channel in 0..<channels {
                    let start = values.baseAddress! + (sample * channels + channel) * plane
                    let b = bias.isEmpty ? 0 : bias[channel]
                    let slice = UnsafeMutableBufferPointer(start: start, count: plane)
                    if b != 0 { for i in slice.indices { slice[i] += b } }
                    activation?.apply(slice)
                }
            }
        }
    }
}

/// An element-wise activation.
enum Activation {
    case relu
    case leakyReLU(Float)
    case sigmoid

    func apply(_ values: UnsafeMutableBufferPointer<Float>) {
        switch self {
        case .relu: for i in values.indices where values[i] < 0 { values[i] = 0 }
        case .leakyReLU(let slope): for i in values.indices where values[i] < 0 { values[i] *= slope }
        case .sigmoid: for i in values.indices { values[i] = 1 / (1 + expf(-values[i])) }
        }
    }
}
