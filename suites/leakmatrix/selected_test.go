package leakmatrix_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Selecting the matrix by label filter", func() {
	DescribeTable("runs the matrix only when the filter names it",
		func(filter string, matrix, external bool) {
			Expect(matrixSelectedBy(filter)).To(Equal(matrix), "matrix under %q", filter)
			Expect(externalSelectedBy(filter)).To(Equal(external), "external-target under %q", filter)
		},
		Entry("no filter", "", false, false),
		Entry("an exclusion only", "!stalled-clients", false, false),
		Entry("another family", "slow-upstream", false, false),
		Entry("another family and an exclusion", "slow-upstream && !heap", false, false),
		Entry("the matrix", MatrixLabel, true, true),
		Entry("the matrix, one leak", MatrixLabel+" && body", true, false),
		Entry("the external target alone", ExternalLabel, false, true),
		Entry("the matrix or anything", MatrixLabel+" || slow-upstream", true, true),
		Entry("the matrix without the external target", MatrixLabel+" && !"+ExternalLabel, true, false),
		Entry("the matrix, one gRPC leak", MatrixLabel+" && grpc-conn", true, false),
		Entry("the external gRPC target alone", ExternalLabel+" && grpc", false, true),
	)
})
