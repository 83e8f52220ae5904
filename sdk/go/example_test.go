package sdk_test

import (
	"context"
	"fmt"
	"log"
	"os"

	sdk "github.com/his-her/customer-hub/sdk/go"
)

func ExampleCustomersService_Create() {
	client, err := sdk.NewClient(sdk.Config{BaseURL: "http://127.0.0.1:1337", Token: os.Getenv("HUB_TOKEN")})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	customer, err := client.Customers.Create(ctx, &sdk.CustomerInput{
		Email:     "jane@example.com",
		FirstName: "Jane",
		LastName:  "Doe",
		Password:  "securePassword123",
	})
	if sdk.IsCode(err, sdk.CodeEmailTaken) {
		fmt.Println("this email is registered already")
		return
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println(customer.ID)
}

func ExampleLoyaltyService_PostTransaction() {
	client, err := sdk.NewClient(sdk.Config{BaseURL: "http://127.0.0.1:1337", Token: os.Getenv("HUB_TOKEN")})
	if err != nil {
		log.Fatal(err)
	}
	// the order's id as the key: a retry of this call, even from another process, earns once
	result, err := client.Loyalty.PostTransaction(context.Background(), "reward-points",
		&sdk.TransactionInput{Kind: "earn", CustomerID: "cus_…", Amount: 500, Reference: "order-1001"},
		sdk.WithIdempotencyKey("earn-order-1001"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(result.Balances[0].Available)
}

func ExampleEventsService_List() {
	client, err := sdk.NewClient(sdk.Config{BaseURL: "http://127.0.0.1:1337", Token: os.Getenv("HUB_TOKEN")})
	if err != nil {
		log.Fatal(err)
	}
	after := "0"
	for {
		// waits up to 30 s on the hub for the next event
		page, err := client.Events.List(context.Background(), &sdk.EventListQuery{After: after, Type: []string{"customer.*"}, Wait: sdk.Ptr[int64](30)})
		if err != nil {
			log.Fatal(err)
		}
		for _, event := range page.Data {
			fmt.Println(event.Sequence, event.Type)
		}
		after = page.NextAfter
	}
}
