import Foundation
import TestSupport
import Testing
import UNetCheckpoint
import UNetDrawing

@Suite("Weight histograms")
struct HistogramTests {
    @Test("one panel per tensor whose bars count every value of the tensor")
    func panelsCountEveryValue() throws {
        let file = try CheckpointFile(path: Fixtures.path("h5py/paper-tiny.h5"))
        let expected = try Fixtures.expected("paper-tiny")
        let histograms = try file.tensors.map { TensorHistogram(key: $0.key, tensor: try file.tensor($0.key)) }
        let svg = try ParsedSVG(Data(HistogramFigure(histograms, title: "t").render().utf8))
        let panels = try svg.elements(class: "histogram")
        #expect(panels.map { $0[attribute: "data-key"] } == expected.tensors.map(\.key))
        for (panel, entry) in zip(panels, expected.tensors) {
            let bars = panel.descendants(named: "rect").filter { $0[attribute: "class"] == "bin" }
            #expect(bars.count == TensorHistogram.defaultBinCount)
            let elements = entry.shape.reduce(1, *)
            #expect(bars.compactMap { $0.integer("data-count") }.reduce(0, +) == elements, "\(entry.key)")
            #expect(panel.integer("data-elements") == elements)
        }
    }

    @Test("the bins cover the finite range; NaN and Inf are counted apart; a constant tensor fills one bin")
    func edges() throws {
        let values: [Float] = [-1, 0, 0.5, 1, .nan, .infinity]
        let histogram = TensorHistogram(key: "k", tensor: Tensor(shape: [6], values: values), bins: 4)
        #expect(histogram.counts == [1, 0, 1, 2])
        #expect(histogram.binnedCount + histogram.statistics.nanCount + histogram.statistics.infinityCount == 6)
        let constant = TensorHistogram(key: "c", tensor: Tensor(shape: [3], values: [2, 2, 2]), bins: 4)
        #expect(constant.counts == [0, 0, 3, 0])
        let svg = try ParsedSVG(Data(HistogramFigure([histogram, constant], title: "<&>").render().utf8))
        #expect(try svg.elements(class: "histogram").first?.integer("data-non-finite") == 2)
        #expect(try svg.elements(class: "title").first?.stringValue == "<&>")
    }
}
