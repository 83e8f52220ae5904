module github.com/his-her/customer-hub/sdk/go

go 1.19
