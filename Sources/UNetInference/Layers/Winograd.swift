import COpenBLAS
import UNetCheckpoint

/// A 3×3, stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3) (Lavin and Gray, "Fast
/// Algorithms for Convolutional Neural Networks", 2016): every 2×2 output tile is computed from a
/// 4×4 input tile with 16 multiplications per channel pair instead of 36. In the transformed
/// domain the convolution is 16 independent matrix products, `M[ξ] = U[ξ] · V[ξ]`, which run on
/// OpenBLAS over blocks of tiles small enough to stay in cache, one block per thread at a time.
///
/// The transforms only add, subtract and halve, so the result differs from direct convolution by
/// a few float32 roundings: about 1e-6 of the output's range on the paper's network, well inside
/// the 1e-4 tolerance of the probes (docs/inference.md).
struct WinogradKernel: Sendable {
    let inChannels: Int
    let outChannels: Int
    /// `U = G g Gᵀ` for every (out, in) channel pair, stored as 16 row-major matrices
    /// `[outChannels, inChannels]`, one per transformed position ξ.
    let transformed: [Float]

    /// Transforms OIHW 3×3 weights.
    init(weight: [Float], outChannels: Int, inChannels: Int) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        let pairs = outChannels * inChannels
        var transformed = [Float](repeating: 0, count: 16 * pairs)
        for pair in 0..<pairs {
            let g = weight[(pair * 9)..<(pair * 9 + 9)].map { $0 }
            // G g: four rows of three, then (G g) Gᵀ: each row to four values.
            var rows = [[Float]](repeating: [0, 0, 0], count: 4)
            for column in 0..<3 {
                let (a, b, c) = (g[column], g[3 + column], g[6 + column])
                rows[0][column] = a
                rows[1][column] = (a + b + c) * 0.5
                rows[2][column] = (a - b + c) * 0.5
                rows[3][column] = c
            }
            for (i, row) in rows.enumerated() {
                let (a, b, c) = (row[0], row[1], row[2])
                let values = [a, (a + b + c) * 0.5, (a - b + c) * 0.5, c]
                for j in 0..<4 { transformed[(i * 4 + j) * pairs + pair] = values[j] }
            }
        }
        self.transformed = transformed
    }

    /// The geometry of one call: the input plane size, the padding before, the output size.
    struct Geometry {
        let height: Int, width: Int
        let padTop: Int, padLeft: Int
        let outHeight: Int, outWidth: Int
        var tilesX: Int { (outWidth + 1) / 2 }
        var tileCount: Int { ((outHeight + 1) / 2) * tilesX }
    }

    /// Tiles per block: the transformed input and products of a block take about 2 MiB.
    func tilesPerBlock(_ geometry: Geometry, threads: Int) -> Int {
        let fitting = max(64, (1 << 15) / (inChannels + outChannels))
        let balanced = (geometry.tileCount + threads - 1) / threads
        return max(1, min(fitting, balanced))
    }

    /// Convolves one sample: `input` is `[inChannels, height, width]`, `output` is
    /// `[outChannels, outHeight, outWidth]`; bias and activation are applied on the way out.
    func convolve(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, geometry: Geometry, bias: [Float],
        activation: Activation?, threads: Int
    ) {
        let blockTiles = tilesPerBlock(geometry, threads: threads)
        let blocks = (geometry.tileCount + blockTiles - 1) / blockTiles
        let workers = max(1, min(threads, blocks))
        let scratchSize = 16 * (inChannels + outChannels) * blockTiles
        var scratch = [Float](repeating: 0, count: workers * scratchSize)
        let bias = bias.isEmpty ? [Float](repeating: 0, count: outChannels) : bias
        scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            transformed.withUnsafeBufferPointer { kernel in
                bias.withUnsafeBufferPointer { bias in
                    let (scratch, kernel, bias) = (scratchBuffer.baseAddress!, kernel.baseAddress!, bias.baseAddress!)
                    Parallel.forEach(blocks, threads: workers) { block, worker in
                        let first = block * blockTiles
                        let count = min(blockTiles, geometry.tileCount - first)
                        let inputTiles = scratch + worker * scratchSize
                        let products = inputTiles + 16 * inChannels * blockTiles
                        transformInput(input, geometry: geometry, firstTile: first, count: count, into: inputTiles)
                        for position in 0..<16 {
                            cblas_sgemm(
                                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(outChannels), Int32(count),
                                Int32(inChannels), 1, kernel + position * outChannels * inChannels,
                                Int32(inChannels), inputTiles + position * inChannels * count, Int32(count), 0,
                                products + position * outChannels * count, Int32(count))
                        }
                        transformOutput(
                            products, geometry: geometry, firstTile: first, count: count, bias: bias,
                            activation: activation, into: output)
                    }
                }
            }
        }
    }

    /// `V = Bᵀ d B` for every channel and tile of the block, as 16 matrices `[inChannels, count]`.
    private func transformInput(
        _ input: UnsafePointer<Float>, geometry g: Geometry, firstTile: Int, count: Int,
        into tiles: UnsafeMutablePointer<Float>
    ) {
        let stride = inChannels * count
        var d = (
            SIMD4<Float>(), SIMD4<Float>(), SIMD4<Float>(), SIMD4<Float>()
        )
        for channel in 0..<inChannels {
            let plane = input + channel * g.height * g.width
            var tileY = firstTile / g.tilesX, tileX = firstTile % g.tilesX
            for k in 0..<count {
                let top = 2 * tileY - g.padTop, left = 2 * tileX - g.padLeft
                if top >= 0 && left >= 0 && top + 4 <= g.height && left + 4 <= g.width {
                    let row = plane + top * g.width + left
                    d.0 = SIMD4(row[0], row[1], row[2], row[3])
                    d.1 = SIMD4(row[g.width], row[g.width + 1], row[g.width + 2], row[g.width + 3])
                    let row2 = row + 2 * g.width
                    d.2 = SIMD4(row2[0], row2[1], row2[2], row2[3])
                    d.3 = SIMD4(row2[g.width], row2[g.width + 1], row2[g.width + 2], row2[g.width + 3])
                } else {
                    func value(_ y: Int, _ x: Int) -> Float {
                        (y >= 0 && y < g.height && x >= 0 && x < g.width) ? plane[y * g.width + x] : 0
                    }
                    func line(_ y: Int) -> SIMD4<Float> {
                        SIMD4(value(y, left), value(y, left + 1), value(y, left + 2), value(y, left + 3))
                    }
                    d = (line(top), line(top + 1), line(top + 2), line(top + 3))
                }
                // Bᵀ d: rows combined; then each row r to (r0 − r2, r1 + r2, r2 − r1, r1 − r3).
                let rows = (d.0 - d.2, d.1 + d.2, d.2 - d.1, d.1 - d.3)
                var target = tiles + channel * count + k
                for row in [rows.0, rows.1, rows.2, rows.3] {
                    target[0] = row[0] - row[2]
                    target[stride] = row[1] + row[2]
                    target[2 * stride] = row[2] - row[1]
                    target[3 * stride] = row[1] - row[3]
                    target += 4 * stride
                }
                tileX += 1
                if tileX == g.tilesX {
                    tileX = 0
                    tileY += 1
                }
            }
        }
    }

    /// `Y = Aᵀ m A` for every output channel and tile of the block, plus bias and activation.
    private func transformOutput(
        _ products: UnsafePointer<Float>, geometry g: Geometry, firstTile: Int, count: Int,
        bias: UnsafePointer<Float>, activation: Activation?, into output: UnsafeMutablePointer<Float>
    ) {
        let stride = outChannels * count
        for channel in 0..<outChannels {
            let plane = output + channel * g.outHeight * g.outWidth
            let b = bias[channel]
            var tileY = firstTile / g.tilesX, tileX = firstTile % g.tilesX
            for k in 0..<count {
                let source = products + channel * count + k
                func row(_ i: Int) -> SIMD4<Float> {
                    let base = source + 4 * i * stride
                    return SIMD4(base[0], base[stride], base[2 * stride], base[3 * stride])
                }
                let (m0, m1, m2, m3) = (row(0), row(1), row(2), row(3))
                let s0 = m0 + m1 + m2, s1 = m1 - m2 - m3
                var y00 = s0[0] + s0[1] + s0[2] + b, y01 = s0[1] - s0[2] - s0[3] + b
                var y10 = s1[0] + s1[1] + s1[2] + b, y11 = s1[1] - s1[2] - s1[3] + b
                if let activation {
                    y00 = activation.apply(y00)
                    y01 = activation.apply(y01)
                    y10 = activation.apply(y10)
                    y11 = activation.apply(y11)
                }
                let y = 2 * tileY, x = 2 * tileX
                let line = plane + y * g.outWidth + x
                line[0] = y00
                if x + 1 < g.outWidth { line[1] = y01 }
                if y + 1 < g.outHeight {
                    line[g.outWidth] = y10
                    if x + 1 < g.outWidth { line[g.outWidth + 1] = y11 }
                }
                tileX += 1
                if tileX == g.tilesX {
                    tileX = 0
                    tileY += 1
                }
            }
        }
    }
}
