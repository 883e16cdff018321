import UNetCheckpoint

/// The sizes a package's spatial axes declare, from the network's arithmetic (docs/format.md
/// §3.5): the input side as `min + n·step` (the spec's `ParameterizedSize`) and the output side
/// as the input side plus `offset` (its `SizeReference`; negative for valid convolutions, which
/// crop the halo themselves, so no `halo` is declared).
public struct PackageAxis: Sendable, Equatable {
    /// `z`, `y`, `x`.
    public let id: String
    public let minimum: Int
    public let step: Int
    public let offset: Int

    /// How many sides of the progression are checked to be valid, and to give `side + offset`.
    static let checkedSteps = 12

    /// The axes of a network's input, in the order (D,) H, W: per axis the progression with the
    /// smallest step (a divisor of the axis' period, the product of its down-sampling strides) and
    /// then the smallest start that holds the test input's side `probe[axis]`, on whose sides the
    /// output side is the input side plus the offset it has at the test input's side.
    public static func axes(of network: UNetNetwork, probe: [Int]) throws(BioImageExportError) -> [PackageAxis] {
        let dims = network.architecture.spatialDims
        let ids = dims == 3 ? ["z", "y", "x"] : ["y", "x"]
        var axes: [PackageAxis] = []
        for axis in 0..<dims {
            func output(_ side: Int) -> Int? {
                network.sides(forInputSide: side, axis: axis).map { $0[network.output] }
            }
            let side = probe[axis]
            guard let first = output(side) else {
                throw BioImageExportError("the test input's side \(side) is not valid along \(ids[axis])")
            }
            let offset = first - side
            func holds(from start: Int, step: Int) -> Bool {
                (0...checkedSteps).allSatisfy { k in output(start + k * step) == start + k * step + offset }
            }
            let period = max(network.period(axis: axis), 1)
            var found: PackageAxis?
            search: for step in 1...period where period % step == 0 {
                var start = side % step == 0 ? step : side % step
                while start <= side {
                    if holds(from: start, step: step) {
                        found = PackageAxis(id: ids[axis], minimum: start, step: step, offset: offset)
                        break search
                    }
                    start += step
                }
            }
            guard let found else {
                throw BioImageExportError(
                    "along \(ids[axis]) the output side is not the input side plus a constant on a progression of "
                        + "valid sides through \(side) (every \(period)): the package's output size cannot be stated")
            }
            axes.append(found)
        }
        return axes
    }
}
