import UNetCheckpoint

/// A 2-D 3×3, stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3), for layers of few
/// channels (``WinogradKernel`` has F(4×4, 3×3) for the others) (Lavin and Gray, "Fast
/// Algorithms for Convolutional Neural Networks", 2016): every 2×2 output tile is computed from a
/// 4×4 input tile with 16 multiplications per channel pair instead of 36. In the transformed
/// domain the convolution is 16 independent matrix products, `M[ξ] = U[ξ] · V[ξ]`, which run on
/// OpenBLAS over blocks of tiles small enough to stay in cache, one block per thread at a time.
///
/// The transforms only add, subtract and halve, so the result differs from direct convolution by
/// a few float32 roundings: about 1e-6 of the output's range on the paper's network, well inside
/// the 1e-4 tolerance of the probes (docs/inference.md).
struct SmallTileWinogradKernel: Sendable {
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
        weight.withUnsafeBufferPointer { g in
            transformed.withUnsafeMutableBufferPointer { u in
                for pair in 0..<pairs {
                    let w = g.baseAddress! + pair * 9
                    // G g: four rows of three, one column of g at a time.
                    var rows = (SIMD4<Float>(), SIMD4<Float>(), SIMD4<Float>())
                    for column in 0..<3 {
                        let (a, b, c) = (w[column], w[3 + column], w[6 + column])
                        let transformedColumn = SIMD4(a, (a + b + c) * 0.5, (a - b + c) * 0.5, c)
                        switch column {
                        case 0: rows.0 = transformedColumn
                        case 1: rows.1 = transformedColumn
                        default: rows.2 = transformedColumn
                        }
                    }
                    // (G g) Gᵀ: each row (a, b, c) of G g becomes (a, (a+b+c)/2, (a−b+c)/2, c).
                    let (a, b, c) = rows
                    func store(_ column: SIMD4<Float>, _ j: Int) {
                        for i in 0..<4 { u[(i * 4 + j) * pairs + pair] = column[i] }
                    }
                    store(a, 0)
                    store((a + b + c) * 0.5, 1)
                    store((a - b + c) * 0.5, 2)
                    store(c, 3)
                }
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
    /// `[outChannels, outHeight, outWidth]`; `bias` (one per output channel) and the activation are
    /// applied on the way out.
    func convolve(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, geometry: Geometry, bias: [Float],
        activation: Activation?, threads: Int
    ) {
        let blockTiles = tilesPerBlock(geometry, threads: threads)
        let blocks = (geometry.tileCount + blockTiles - 1) / blockTiles
        let workers = max(1, min(threads, blocks))
        let scratchSize = 16 * (inChannels + outChannels) * blockTiles
        var scratch = [Float](repeating: 0, count: workers * scratchSize)
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
                            BLAS.multiply(
                                m: outChannels, n: count, k: inChannels, kernel + position * outChannels * inChannels,
                                lda: inChannels, inputTiles + position * inChannels * count, ldb: count,
                                into: products + position * outChannels * count, ldc: count)
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
        for channel in 0..<inChannels {
            let plane = input + channel * g.height * g.width
            var tile = TileCursor(first: firstTile, columns: g.tilesX)
            var k = 0
            while k < count {
                let top = 2 * tile.y - g.padTop, left = 2 * tile.x - g.padLeft
                // Four tiles of one row inside the plane: transformed side by side, one per lane.
                if k + 4 <= count && tile.x + 4 <= g.tilesX && top >= 0 && left >= 0 && top + 4 <= g.height
                    && left + 10 <= g.width
                {
                    Self.transformFourTiles(
                        plane + top * g.width + left, width: g.width, into: tiles + channel * count + k, stride)
                    k += 4
                    tile.advance(by: 4)
                    continue
                }
                let d0: SIMD4<Float>, d1: SIMD4<Float>, d2: SIMD4<Float>, d3: SIMD4<Float>
                if top >= 0 && left >= 0 && top + 4 <= g.height && left + 4 <= g.width {
                    let row = UnsafeRawPointer(plane + top * g.width + left)
                    let pitch = g.width * MemoryLayout<Float>.stride
                    d0 = row.loadUnaligned(as: SIMD4<Float>.self)
                    d1 = (row + pitch).loadUnaligned(as: SIMD4<Float>.self)
                    d2 = (row + 2 * pitch).loadUnaligned(as: SIMD4<Float>.self)
                    d3 = (row + 3 * pitch).loadUnaligned(as: SIMD4<Float>.self)
                } else {
                    d0 = Self.paddedRow(plane, g, y: top, x: left)
                    d1 = Self.paddedRow(plane, g, y: top + 1, x: left)
                    d2 = Self.paddedRow(plane, g, y: top + 2, x: left)
                    d3 = Self.paddedRow(plane, g, y: top + 3, x: left)
                }
                // Bᵀ d combines rows; then each row r becomes (r0 − r2, r1 + r2, r2 − r1, r1 − r3).
                let target = tiles + channel * count + k
                Self.storeTransformed(d0 - d2, target, stride)
                Self.storeTransformed(d1 + d2, target + 4 * stride, stride)
                Self.storeTransformed(d2 - d1, target + 8 * stride, stride)
                Self.storeTransformed(d1 - d3, target + 12 * stride, stride)
                k += 1
                tile.advance(by: 1)
            }
        }
    }

    /// The input transform of four horizontally adjacent tiles whose 4×10 input starts at
    /// `origin`: lane `t` of every vector belongs to tile `t`, and each of the 16 results is
    /// stored as four consecutive floats.
    @inline(__always)
    private static func transformFourTiles(
        _ origin: UnsafePointer<Float>, width: Int, into target: UnsafeMutablePointer<Float>, _ stride: Int
    ) {
        // Columns j = 0…3 of one input row for the four tiles (tile t starts at column 2t).
        func columns(_ row: Int) -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
            let start = UnsafeRawPointer(origin + row * width)
            let low = start.loadUnaligned(as: SIMD8<Float>.self)
            let high = start.loadUnaligned(fromByteOffset: 8, as: SIMD8<Float>.self)
            return (low.evenHalf, low.oddHalf, high.evenHalf, high.oddHalf)
        }
        let (r0, r1, r2, r3) = (columns(0), columns(1), columns(2), columns(3))
        // Bᵀ d: rows combined column by column.
        let t0 = (r0.0 - r2.0, r0.1 - r2.1, r0.2 - r2.2, r0.3 - r2.3)
        let t1 = (r1.0 + r2.0, r1.1 + r2.1, r1.2 + r2.2, r1.3 + r2.3)
        let t2 = (r2.0 - r1.0, r2.1 - r1.1, r2.2 - r1.2, r2.3 - r1.3)
        let t3 = (r1.0 - r3.0, r1.1 - r3.1, r1.2 - r3.2, r1.3 - r3.3)
        // (Bᵀ d) B: each row (c0, c1, c2, c3) becomes (c0 − c2, c1 + c2, c2 − c1, c1 − c3).
        func store(_ row: (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>), _ first: Int) {
            let out = UnsafeMutableRawPointer(target + first * stride)
            let step = stride * MemoryLayout<Float>.stride
            out.storeBytes(of: row.0 - row.2, as: SIMD4<Float>.self)
            (out + step).storeBytes(of: row.1 + row.2, as: SIMD4<Float>.self)
            (out + 2 * step).storeBytes(of: row.2 - row.1, as: SIMD4<Float>.self)
            (out + 3 * step).storeBytes(of: row.1 - row.3, as: SIMD4<Float>.self)
        }
        store(t0, 0)
        store(t1, 4)
        store(t2, 8)
        store(t3, 12)
    }

    /// Four input values of row `y` from column `x` on, zero outside the plane (the padding).
    @inline(__always)
    private static func paddedRow(_ plane: UnsafePointer<Float>, _ g: Geometry, y: Int, x: Int) -> SIMD4<Float> {
        guard y >= 0 && y < g.height else { return SIMD4() }
        let row = plane + y * g.width
        var values = SIMD4<Float>()
        for j in 0..<4 where x + j >= 0 && x + j < g.width { values[j] = row[x + j] }
        return values
    }

    @inline(__always)
    private static func storeTransformed(_ r: SIMD4<Float>, _ target: UnsafeMutablePointer<Float>, _ stride: Int) {
        target[0] = r[0] - r[2]
        target[stride] = r[1] + r[2]
        target[2 * stride] = r[2] - r[1]
        target[3 * stride] = r[1] - r[3]
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
            var tile = TileCursor(first: firstTile, columns: g.tilesX)
            var k = 0
            while k < count {
                let source = products + channel * count + k
                if k + 4 <= count && tile.x + 4 <= g.tilesX && 2 * tile.x + 8 <= g.outWidth
                    && 2 * tile.y + 2 <= g.outHeight
                {
                    Self.outputFourTiles(
                        source, stride, bias: b, activation: activation,
                        into: plane + 2 * tile.y * g.outWidth + 2 * tile.x, width: g.outWidth)
                    k += 4
                    tile.advance(by: 4)
                    continue
                }
                let m0 = Self.loadStrided(source, stride), m1 = Self.loadStrided(source + 4 * stride, stride)
                let m2 = Self.loadStrided(source + 8 * stride, stride),
                    m3 = Self.loadStrided(source + 12 * stride, stride)
                let s0 = m0 + m1 + m2, s1 = m1 - m2 - m3
                var y00 = s0[0] + s0[1] + s0[2] + b, y01 = s0[1] - s0[2] - s0[3] + b
                var y10 = s1[0] + s1[1] + s1[2] + b, y11 = s1[1] - s1[2] - s1[3] + b
                if let activation {
                    y00 = activation.apply(y00)
                    y01 = activation.apply(y01)
                    y10 = activation.apply(y10)
                    y11 = activation.apply(y11)
                }
                let y = 2 * tile.y, x = 2 * tile.x
                let line = plane + y * g.outWidth + x
                line[0] = y00
                if x + 1 < g.outWidth { line[1] = y01 }
                if y + 1 < g.outHeight {
                    line[g.outWidth] = y10
                    if x + 1 < g.outWidth { line[g.outWidth + 1] = y11 }
                }
                k += 1
                tile.advance(by: 1)
            }
        }
    }

    /// The output transform of four horizontally adjacent tiles (lane `t` is tile `t`), with
    /// bias and activation, written as two rows of eight values from `target`.
    @inline(__always)
    private static func outputFourTiles(
        _ source: UnsafePointer<Float>, _ stride: Int, bias: Float, activation: Activation?,
        into target: UnsafeMutablePointer<Float>, width: Int
    ) {
        func m(_ position: Int) -> SIMD4<Float> {
            UnsafeRawPointer(source + position * stride).loadUnaligned(as: SIMD4<Float>.self)
        }
        // Aᵀ m: rows 0 + 1 + 2 and 1 − 2 − 3, then the same on the columns.
        let s0 = (m(0) + m(4) + m(8), m(1) + m(5) + m(9), m(2) + m(6) + m(10), m(3) + m(7) + m(11))
        let s1 = (m(4) - m(8) - m(12), m(5) - m(9) - m(13), m(6) - m(10) - m(14), m(7) - m(11) - m(15))
        let b = SIMD4(repeating: bias)
        var y00 = s0.0 + s0.1 + s0.2 + b, y01 = s0.1 - s0.2 - s0.3 + b
        var y10 = s1.0 + s1.1 + s1.2 + b, y11 = s1.1 - s1.2 - s1.3 + b
        if let activation {
            y00 = activation.apply(y00)
            y01 = activation.apply(y01)
            y10 = activation.apply(y10)
            y11 = activation.apply(y11)
        }
        func interleaved(_ even: SIMD4<Float>, _ odd: SIMD4<Float>) -> SIMD8<Float> {
            SIMD8(even[0], odd[0], even[1], odd[1], even[2], odd[2], even[3], odd[3])
        }
        UnsafeMutableRawPointer(target).storeBytes(of: interleaved(y00, y01), as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(target + width).storeBytes(of: interleaved(y10, y11), as: SIMD8<Float>.self)
    }

    @inline(__always)
    private static func loadStrided(_ source: UnsafePointer<Float>, _ stride: Int) -> SIMD4<Float> {
        SIMD4(source[0], source[stride], source[2 * stride], source[3 * stride])
    }
}

/// Where a block's walk over the tiles is, in row-major tile order.
private struct TileCursor {
    var y: Int, x: Int
    let columns: Int

    init(first: Int, columns: Int) {
        (y, x, self.columns) = (first / columns, first % columns, columns)
    }

    /// Moves `count` tiles on within the row (at most to its end), then to the next row's start.
    mutating func advance(by count: Int) {
        x += count
        if x == columns {
            x = 0
            y += 1
        }
    }
}
